from revis.kkt.benchmark import compare, main


def test_benchmark_old_and_new_agree_and_report_time_and_memory(capsys):
    result = compare(n=6, width=4, depth=2, channels=1, size=8, repeats=1, threads=1, isolate=False, chunk=4)
    assert result["old_s"] > 0 and result["new_s"] > 0 and result["old_peak_mib"] >= 0
    assert result["loss_rel_diff"] < 1e-5 and result["grad_x_rel_diff"] < 1e-3
    assert result["loop_loss_rel_diff"] < 1e-5  # the per-sample loop computes the same objective
    assert result["chunked_loss_rel_diff"] < 1e-5 and result["chunked_grad_x_rel_diff"] < 1e-3
    assert result["chunked_s"] > 0 and result["chunked_peak_mib"] >= 0
    assert result["floor_s"] > 0 and result["bound"] == result["old_s"] / result["floor_s"]
    assert (
        main(
            [
                "--n",
                "4",
                "--width",
                "4",
                "--depth",
                "2",
                "--size",
                "8",
                "--channels",
                "1",
                "--repeats",
                "1",
                "--inline",
                "--chunk",
                "2",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert (
        "chunked (2 per chunk)" in out
        and "speed-up x" in out
        and "no residual computation can beat the old path by more than x" in out
    )
