"""The DeepKKT objective, old vs new: per-sample gradients (vmap, an N x P matrix) vs one λ-weighted backward.

    python -m revis.kkt.benchmark                         # CIFAR scale: ConvNet w128 d3, 3x32x32, N = 100 and 500
    python -m revis.kkt.benchmark --n 8 --width 8 --size 8 --repeats 1     # a quick check

Both paths compute the same stationarity loss D(θ*, −Σ λ_i ∇_θ L_i) over all parameters (the
old code's form) and back-propagate it into the candidates and λ (one objective evaluation =
forward, residual, backward). ``old``: ``vmap(grad(...))`` per-sample gradients then λᵀG;
``new``: ∇_θ(Σ λ_i L_i) with ``create_graph=True``. Two more columns explain what speed-up is
possible: ``loop`` (per-sample gradients one sample at a time, the Python loop the vmap path
replaced; only up to ``--loop-max`` candidates) and ``floor`` (one forward and one first-order
backward of the mean loss into the candidates: less than any evaluation of this objective, which
needs a second-order backward). ``old / floor`` bounds the speed-up any residual computation can
reach over the vmap path: per-sample gradients by vmap cost the same multiply-adds as the batch
gradient (each sample's outer products, not summed), so the new path saves the N x P matrix and
its memory traffic, not arithmetic. Each (path, N) runs in a fresh process so
that its peak memory is its own: the peak resident set size during one evaluation minus the
resident size before it. Prints the median wall time, the speed-up, the peak memory and the
largest difference between the two losses and input gradients (they must agree).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
import statistics
import sys
import time
from typing import Any

import torch
import torch.nn.functional as F

from revis.kkt.deepkkt import distance, stationarity_loss
from revis.kkt.gradients import flatten_grads, flatten_params, frozen_parameters, per_sample_grads, weighted_loss_grad
from revis.models import ModelConfig, build_model


def _rss_kib() -> int:
    with open("/proc/self/statm") as handle:
        pages = int(handle.read().split()[1])
    return pages * resource.getpagesize() // 1024


def objective(
    path: str, model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, lam: torch.Tensor, chunk: int | None = None
):
    """One evaluation of the stationarity loss and its gradients with respect to x and λ."""
    x = x.detach().requires_grad_(True)
    lam = lam.detach().requires_grad_(True)
    theta = frozen_parameters(model)
    flat = flatten_params(theta)
    if path == "floor":  # first order only: a lower bound, not the objective
        loss = F.cross_entropy(model(x), y) * lam.sum()
        gx, gl = torch.autograd.grad(loss, [x, lam])
        return loss.detach(), gx, gl
    if path == "old":
        grads, _ = per_sample_grads(model, x, y, theta)
        loss = stationarity_loss(flat, flatten_grads(grads), lam)
    elif path == "loop":
        ones = torch.ones(1)
        rows = [weighted_loss_grad(model, theta, x[i : i + 1], y[i : i + 1], ones)[0] for i in range(len(x))]
        loss = stationarity_loss(flat, torch.stack(rows), lam)
    else:  # new: one pass; chunked: accumulated chunk by chunk (memory bounded by the chunk)
        total, _ = weighted_loss_grad(model, theta, x, y, lam, chunk_size=chunk if path == "chunked" else None)
        loss = distance(flat + total)
    gx, gl = torch.autograd.grad(loss, [x, lam])
    return loss.detach(), gx, gl


def _setup(spec: dict[str, Any]):
    torch.manual_seed(spec["seed"])
    torch.set_num_threads(spec["threads"])
    model = build_model(
        ModelConfig.model_validate({"name": "convnet", "width": spec["width"], "depth": spec["depth"]}),
        spec["channels"],
        10,
        spec["size"],
    ).eval()
    model.requires_grad_(False)
    x = torch.randn(spec["n"], spec["channels"], spec["size"], spec["size"])
    y = torch.randint(0, 10, (spec["n"],))
    lam = torch.rand(spec["n"]) / spec["n"]
    return model, x, y, lam


def _measure(spec: dict[str, Any]) -> dict[str, Any]:
    """In a fresh process: peak memory of one evaluation, then the median time of ``repeats``."""
    model, x, y, lam = _setup(spec)
    before = _rss_kib()
    loss, gx, gl = objective(spec["path"], model, x, y, lam, spec.get("chunk"))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    times = []
    for _ in range(spec["repeats"]):
        start = time.perf_counter()
        objective(spec["path"], model, x, y, lam, spec.get("chunk"))
        times.append(time.perf_counter() - start)
    return {
        "seconds": statistics.median(times),
        "peak_mib": max(0, peak - before) / 1024,
        "loss": float(loss),
        "grad_x": gx.flatten()[:4096].tolist(),
        "grad_lambda": gl.tolist(),
        "parameters": sum(p.numel() for p in model.parameters()),
    }


def measure(spec: dict[str, Any], isolate: bool = True) -> dict[str, Any]:
    """``_measure`` in a spawned process (its own peak memory), or in this one (``isolate=False``: quick, peak approximate)."""
    if not isolate:
        return _measure(spec)
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(_measure, (spec,))


def compare(
    n: int,
    width: int,
    depth: int,
    channels: int,
    size: int,
    repeats: int,
    threads: int,
    isolate: bool = True,
    loop_max: int = 100,
    chunk: int = 50,
) -> dict[str, Any]:
    """Old vs new (one pass, and chunked) at one N: seconds, peak MiB, speed-up, agreement; loop and floor."""
    base = {"n": n, "width": width, "depth": depth, "channels": channels, "size": size, "seed": 0}
    base |= {"repeats": repeats, "threads": threads}
    old, new = measure({**base, "path": "old"}, isolate), measure({**base, "path": "new"}, isolate)
    chunked = measure({**base, "path": "chunked", "chunk": chunk}, isolate)
    floor = measure({**base, "path": "floor"}, isolate)
    loop = measure({**base, "path": "loop", "repeats": 1}, isolate) if n <= loop_max else None
    scale = max(abs(v) for v in old["grad_x"]) or 1.0
    return {
        "floor_s": floor["seconds"],
        "bound": old["seconds"] / floor["seconds"],
        "loop_s": None if loop is None else loop["seconds"],
        "loop_speedup": None if loop is None else loop["seconds"] / new["seconds"],
        "loop_loss_rel_diff": None if loop is None else abs(old["loss"] - loop["loss"]) / abs(old["loss"]),
        "n": n,
        "parameters": old["parameters"],
        "old_s": old["seconds"],
        "new_s": new["seconds"],
        "speedup": old["seconds"] / new["seconds"],
        "old_peak_mib": old["peak_mib"],
        "new_peak_mib": new["peak_mib"],
        "loss_rel_diff": abs(old["loss"] - new["loss"]) / abs(old["loss"]),
        "grad_x_rel_diff": max(abs(a - b) for a, b in zip(old["grad_x"], new["grad_x"])) / scale,
        "chunk": chunk,
        "chunked_s": chunked["seconds"],
        "chunked_peak_mib": chunked["peak_mib"],
        "chunked_loss_rel_diff": abs(new["loss"] - chunked["loss"]) / abs(new["loss"]),
        "chunked_grad_x_rel_diff": max(abs(a - b) for a, b in zip(new["grad_x"], chunked["grad_x"])) / scale,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, action="append", help="candidates N (repeatable; default 100 and 500)")
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--depth", type=int, default=3)
    parser.add_argument("--channels", type=int, default=3)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads in each measuring process")
    parser.add_argument("--loop-max", type=int, default=100, help="run the per-sample Python loop up to this N")
    parser.add_argument("--chunk", type=int, default=50, help="candidates per chunk of the chunked residual")
    parser.add_argument("--json", action="store_true", help="print one JSON line per N instead of the table")
    parser.add_argument(
        "--inline", action="store_true", help="measure in this process (quick; peak memory not isolated)"
    )
    args = parser.parse_args(argv)
    print(
        f"DeepKKT objective (forward + residual + backward to x and λ), ConvNet w{args.width} d{args.depth}, "
        f"{args.channels}x{args.size}x{args.size}, {args.threads} CPU thread(s), median of {args.repeats}"
    )
    for n in args.n or [100, 500]:
        r = compare(
            n,
            args.width,
            args.depth,
            args.channels,
            args.size,
            args.repeats,
            args.threads,
            not args.inline,
            args.loop_max,
            args.chunk,
        )
        if args.json:
            print(json.dumps(r))
            continue
        print(
            f"  N={n:4d} ({r['parameters']} params): old {r['old_s']:8.3f} s, {r['old_peak_mib']:8.1f} MiB | "
            f"new {r['new_s']:7.3f} s, {r['new_peak_mib']:7.1f} MiB | speed-up x{r['speedup']:.1f} | "
            f"loss diff {r['loss_rel_diff']:.1e}, grad diff {r['grad_x_rel_diff']:.1e}"
        )
        print(
            f"         chunked ({r['chunk']} per chunk) {r['chunked_s']:7.3f} s, {r['chunked_peak_mib']:7.1f} MiB | "
            f"loss diff {r['chunked_loss_rel_diff']:.1e}, grad diff {r['chunked_grad_x_rel_diff']:.1e} (vs new)"
        )
        loop = "not run" if r["loop_s"] is None else f"{r['loop_s']:.3f} s (new is x{r['loop_speedup']:.1f} faster)"
        print(
            f"         per-sample loop {loop} | floor (forward + first-order backward) {r['floor_s']:.3f} s: "
            f"no residual computation can beat the old path by more than x{r['bound']:.1f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
