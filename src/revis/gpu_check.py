"""``make gpu-check``: is this machine ready for the paper-scale runs? (one H200: under 8 minutes)

1. the ``gpu``-marked tests (``pytest -m gpu``);
2. per paper-scale overlay (``paper_scale/<paper>.yaml``), every network it names (a ``model`` or
   ``backbone`` with a ``name``) built at the overlay's image size, then a few training steps on
   synthetic images on CUDA, in float32 and under AMP (bfloat16 autocast): steps/s, peak GPU memory;
3. the DDP path: ``torchrun --standalone --nproc_per_node 1`` of one DDP step with NCCL.

Without CUDA it says so and stops with status 0 (nothing to check here); ``--dry-run`` prints the
plan (which overlay gets which probe) on any machine. Overlays whose networks are not built by
``revis.models`` (YOLO, the UNets, the video encoders) are listed as covered by the gpu tests only.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Probe:
    paper: str
    where: str  # dotted key of the network in the overlay
    model: dict[str, Any]
    image_size: int


def _find(node: Any, path: str, found: list[tuple[str, dict]], sizes: list[int]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            here = f"{path}.{key}" if path else str(key)
            if key in ("model", "backbone") and isinstance(value, dict) and "name" in value:
                found.append((here, value))
            elif key == "image_size" and isinstance(value, int):
                sizes.append(value)
            else:
                _find(value, here, found, sizes)


def plan(overlays: Path = REPO / "paper_scale") -> tuple[list[Probe], list[str]]:
    """The probes of every overlay, and the papers with no network that ``revis.models`` builds."""
    probes, uncovered = [], []
    for overlay in sorted(overlays.glob("*.yaml")):
        document = yaml.safe_load(overlay.read_text()) or {}
        found: list[tuple[str, dict]] = []
        sizes: list[int] = []
        _find(document, "", found, sizes)
        size = sizes[0] if sizes else 32
        seen = set()
        for where, model in found:
            key = yaml.safe_dump(model, sort_keys=True)
            if key in seen:
                continue
            seen.add(key)
            probes.append(Probe(overlay.stem, where, {**model, "weights": None} if "weights" in model else model, size))
        if not found:
            uncovered.append(overlay.stem)
    return probes, uncovered


def run_probe(
    probe: Probe, device: str = "cuda", steps: int = 5, batch: int = 32, amp: bool = False
) -> dict[str, float]:
    """A few SGD steps of the probe's network on random images: steps/s and peak memory (GiB, CUDA only)."""
    import torch

    from revis.models import build_model

    torch.manual_seed(0)
    net = build_model(probe.model, 3, 10, probe.image_size).to(device).train()
    optimizer = torch.optim.SGD(net.parameters(), lr=0.01)
    x = torch.randn(batch, 3, probe.image_size, probe.image_size, device=device)
    y = torch.randint(0, 10, (batch,), device=device)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()

    def step() -> float:
        with torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16, enabled=amp):
            loss = torch.nn.functional.cross_entropy(net(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return float(loss)

    step()  # warm-up (kernels, allocator)
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    losses = [step() for _ in range(steps)]
    if device == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    peak = torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else 0.0
    if not all(map(lambda v: v == v and abs(v) < 1e6, losses)):
        raise RuntimeError(f"{probe.paper} {probe.where}: non-finite loss {losses}")
    return {"steps_per_s": steps / seconds, "peak_gib": peak, "loss": losses[-1]}


DDP_PROBE = """
import os, torch, torch.distributed as dist
dist.init_process_group("nccl")
rank = dist.get_rank(); torch.cuda.set_device(rank)
net = torch.nn.parallel.DistributedDataParallel(torch.nn.Linear(64, 8).cuda(), device_ids=[rank])
net(torch.randn(16, 64, device="cuda")).sum().backward()
dist.barrier(); dist.destroy_process_group()
print("DDP OK", flush=True)
"""


def ddp_check(timeout: float = 120) -> str:
    """One DDP step under ``torchrun`` (NCCL, one process): 'OK' or the reason it failed."""
    torchrun = Path(sys.executable).parent / "torchrun"
    command = [str(torchrun), "--standalone", "--nproc_per_node", "1", "-m", "revis.gpu_check", "--ddp-probe"]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"FAILED ({exc})"
    return (
        "OK"
        if done.returncode == 0 and "DDP OK" in done.stdout
        else f"FAILED (rc {done.returncode}: {done.stderr[-300:]})"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="GPU readiness for the paper-scale runs")
    parser.add_argument("--dry-run", action="store_true", help="print the plan; run nothing")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--skip-tests", action="store_true", help="probes only, not pytest -m gpu")
    parser.add_argument("--ddp-probe", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.ddp_probe:
        exec(DDP_PROBE, {})  # our own fixed text, run under torchrun
        return 0
    probes, uncovered = plan()
    if args.dry_run:
        for probe in probes:
            print(f"{probe.paper:<10} {probe.where:<28} {probe.model['name']:<12} {probe.image_size:>4} px")
        print(f"covered by the gpu tests only: {', '.join(uncovered) or 'none'}")
        return 0
    import torch

    if not torch.cuda.is_available():
        print("gpu-check: no CUDA device on this machine: nothing to check (run it where `nvidia-smi` lists a GPU)")
        return 0
    print(f"gpu-check on {torch.cuda.get_device_name()} (torch {torch.__version__}, CUDA {torch.version.cuda})")
    status = 0
    if not args.skip_tests:
        tests = subprocess.run([sys.executable, "-m", "pytest", "-m", "gpu", "-q", "-p", "no:xdist"], cwd=REPO)
        print(f"pytest -m gpu: {'passed' if tests.returncode == 0 else f'FAILED (rc {tests.returncode})'}")
        status |= tests.returncode != 0
    print(f"{'paper':<10} {'network':<28} {'fp32 steps/s':>12} {'AMP steps/s':>12} {'peak GiB':>9}")
    for probe in probes:
        try:
            fp32 = run_probe(probe, "cuda", args.steps)
            bf16 = run_probe(probe, "cuda", args.steps, amp=True)
            peak = max(fp32["peak_gib"], bf16["peak_gib"])
            print(
                f"{probe.paper:<10} {probe.where:<28} {fp32['steps_per_s']:>12.1f} {bf16['steps_per_s']:>12.1f} {peak:>9.2f}"
            )
        except Exception as exc:  # one failing paper must not hide the others
            print(f"{probe.paper:<10} {probe.where:<28} FAILED: {type(exc).__name__}: {exc}")
            status = 1
    print(f"covered by the gpu tests only: {', '.join(uncovered) or 'none'}")
    ddp = ddp_check()
    print(f"torchrun/DDP: {ddp}")
    status |= ddp != "OK"
    return status


if __name__ == "__main__":
    os.environ.setdefault("MPLBACKEND", "Agg")
    raise SystemExit(main())
