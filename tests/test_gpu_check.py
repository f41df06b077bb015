"""`make gpu-check`'s CPU-side plumbing: the plan per overlay, a probe's step loop, the clean skip without CUDA."""

import pytest

from revis import gpu_check


def test_every_overlay_is_planned_either_with_its_networks_or_as_left_to_the_gpu_tests():
    probes, uncovered = gpu_check.plan()
    overlays = {p.stem for p in (gpu_check.REPO / "paper_scale").glob("*.yaml")}
    assert {p.paper for p in probes} | set(uncovered) == overlays and not {p.paper for p in probes} & set(uncovered)
    baseline = [p for p in probes if p.paper == "baseline"]
    assert baseline and baseline[0].model["name"] == "convnet" and baseline[0].model["width"] == 128
    gig = [p for p in probes if p.paper == "gig"]
    assert gig and gig[0].image_size == 224 and gig[0].model["weights"] is None  # never a user's weights file


def test_a_probe_trains_a_few_steps_and_reports_a_rate():
    probe = gpu_check.Probe(
        "demo", "demo.model", {"name": "convnet", "width": 8, "depth": 2, "norm": "instancenorm"}, 16
    )
    result = gpu_check.run_probe(probe, device="cpu", steps=2, batch=4)
    assert result["steps_per_s"] > 0 and result["peak_gib"] == 0.0 and result["loss"] == result["loss"]
    amp = gpu_check.run_probe(probe, device="cpu", steps=1, batch=4, amp=True)  # bfloat16 autocast path
    assert amp["steps_per_s"] > 0


def test_without_cuda_it_says_so_and_succeeds(monkeypatch, capsys):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert gpu_check.main([]) == 0
    assert "no CUDA device" in capsys.readouterr().out
    assert gpu_check.main(["--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "baseline" in out and "covered by the gpu tests only" in out


def test_a_failing_probe_fails_the_check_without_hiding_the_others(monkeypatch, capsys):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda: "fake")
    calls = []

    def probe(p, device, steps, amp=False):
        calls.append(p.paper)
        if p.paper == "baseline":
            raise RuntimeError("out of memory")
        return {"steps_per_s": 1.0, "peak_gib": 1.0, "loss": 0.1}

    monkeypatch.setattr(gpu_check, "run_probe", probe)
    monkeypatch.setattr(gpu_check, "ddp_check", lambda: "OK")
    assert gpu_check.main(["--skip-tests"]) == 1
    out = capsys.readouterr().out
    assert "baseline" in out and "FAILED: RuntimeError: out of memory" in out and "torchrun/DDP: OK" in out
    assert len(set(calls)) == len({p.paper for p in gpu_check.plan()[0]})  # every paper was still probed


@pytest.mark.gpu
def test_a_probe_runs_on_cuda():
    probes, _ = gpu_check.plan()
    result = gpu_check.run_probe(probes[0], device="cuda", steps=2, amp=True)
    assert result["steps_per_s"] > 0 and result["peak_gib"] > 0
