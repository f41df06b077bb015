from revis.kkt.benchmark import benchmark, main


def test_benchmark_times_both_and_they_agree(capsys):
    result = benchmark(batch=8, channels=1, size=8, classes=3, width=4, depth=2, repeats=1)
    assert result["vmap_s"] > 0 and result["loop_s"] > 0 and result["max_rel_diff"] < 1e-10
    assert (
        main(["--batch", "4", "--width", "4", "--depth", "2", "--repeats", "1", "--size", "8", "--channels", "1"]) == 0
    )
    assert "speed-up x" in capsys.readouterr().out
