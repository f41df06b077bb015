"""Per-sample gradients: one vectorised torch.func pass vs a per-sample Python loop, same batch.

    python -m revis.kkt.benchmark                      # ConvNet w32 on 8x8 digits-like and 32x32 images
    python -m revis.kkt.benchmark --batch 128 --width 64 --size 32 --channels 3 --repeats 5

Prints the median wall time of each, the speed-up, and the largest difference between the
two results relative to the largest gradient entry (they must agree to float precision).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable

import torch

from revis.kkt.gradients import per_sample_grads, per_sample_grads_loop
from revis.models import ModelConfig, build_model


def _median_seconds(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up (first-call overheads, allocator)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def benchmark(
    batch: int, channels: int, size: int, classes: int, width: int, depth: int, repeats: int, seed: int = 0
) -> dict[str, float]:
    """Median seconds of the vmap pass and of the loop, the speed-up and the max relative difference."""
    torch.manual_seed(seed)
    model = build_model(ModelConfig(name="convnet", width=width, depth=depth), channels, classes, size).eval()
    x = torch.rand(batch, channels, size, size)
    y = torch.randint(0, classes, (batch,))
    vectorised = _median_seconds(lambda: per_sample_grads(model, x, y), repeats)
    loop = _median_seconds(lambda: per_sample_grads_loop(model, x, y), repeats)
    # agreement checked in float64: in float32 the batched and single-sample convolution kernels
    # accumulate in different orders, which shows up as ~1e-3 relative noise on 32x32 inputs
    model64, x64 = model.double(), x.double()
    fast, _ = per_sample_grads(model64, x64, y)
    slow = per_sample_grads_loop(model64, x64, y)
    scale = max(float(g.abs().max()) for g in slow.values())
    difference = max(float((fast[name] - slow[name]).abs().max()) for name in slow) / scale
    return {
        "vmap_s": vectorised,
        "loop_s": loop,
        "speedup": loop / vectorised,
        "max_rel_diff": difference,
        "parameters": sum(p.numel() for p in model.parameters()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--depth", type=int, default=3)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--size", type=int, action="append", help="image side (repeatable; default 8 and 32)")
    parser.add_argument("--channels", type=int, action="append", help="channels per --size (default 1 and 3)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    sizes = args.size or [8, 32]
    channels = args.channels or ([1, 3] if not args.size else [3] * len(sizes))
    if len(channels) != len(sizes):
        parser.error("give one --channels per --size")
    print(
        f"per-sample parameter gradients, batch {args.batch}, ConvNet w{args.width} d{args.depth}, "
        f"{torch.get_num_threads()} CPU thread(s), median of {args.repeats}"
    )
    for size, c in zip(sizes, channels):
        r = benchmark(args.batch, c, size, args.classes, args.width, args.depth, args.repeats)
        print(
            f"  {c}x{size}x{size} ({r['parameters']} params): vmap {r['vmap_s'] * 1e3:8.1f} ms | "
            f"loop {r['loop_s'] * 1e3:8.1f} ms | speed-up x{r['speedup']:.1f} | max rel. diff (float64) {r['max_rel_diff']:.1e}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
