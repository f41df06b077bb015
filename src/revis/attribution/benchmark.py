"""GIG against Captum's IntegratedGradients on the same work: agreement and time ratio.

At the input layer with the identity decomposition, GIG and IG compute the same thing (same
steps, same Riemann rule, zero baseline, all steps in one batch). This script times both on
a ConvNet of the shapes world's size and prints the figures::

    python -m revis.attribution.benchmark            # defaults: 64 images, m = 32, 5 repeats
    python -m revis.attribution.benchmark --images 16 --steps 16 --repeats 3
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import asdict, dataclass

import torch
from captum.attr import IntegratedGradients

from revis.attribution.gig import GeneralizedIntegratedGradients, Method
from revis.models import ModelConfig, build_model


@dataclass
class BenchmarkResult:
    images: int
    steps: int
    method: str
    repeats: int
    gig_seconds: float  # best of the repeats
    captum_seconds: float
    ratio: float  # GIG / Captum
    max_abs_difference: float
    max_abs_attribution: float


def _timed(fn) -> tuple[float, torch.Tensor]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def run_benchmark(
    images: int = 64,
    steps: int = 32,
    method: Method = "riemann_right",
    repeats: int = 5,
    width: int = 16,
    seed: int = 0,
) -> BenchmarkResult:
    torch.manual_seed(seed)
    model = build_model(ModelConfig(name="convnet", width=width, depth=3, norm="batchnorm"), 3, 5, 32).eval()
    x = torch.rand(images, 3, 32, 32)
    target = torch.arange(images) % 5
    captum = IntegratedGradients(model)
    gig = GeneralizedIntegratedGradients(model)  # identity decomposition
    run_captum = lambda: captum.attribute(x, target=target, n_steps=steps, method=method)  # noqa: E731
    run_gig = lambda: gig.attribute(x, target=target, n_steps=steps, method=method)  # noqa: E731
    run_captum(), run_gig()  # warm-up (allocator, kernels)
    gig_s = captum_s = float("inf")
    for _ in range(repeats):  # interleaved, best of each: fair on a machine whose load changes
        seconds, a_gig = _timed(run_gig)
        gig_s = min(gig_s, seconds)
        seconds, a_captum = _timed(run_captum)
        captum_s = min(captum_s, seconds)
    return BenchmarkResult(
        images=images,
        steps=steps,
        method=method,
        repeats=repeats,
        gig_seconds=gig_s,
        captum_seconds=captum_s,
        ratio=gig_s / captum_s,
        max_abs_difference=float((a_gig - a_captum).abs().max()),
        max_abs_attribution=float(a_captum.abs().max()),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--steps", type=int, default=32)
    parser.add_argument("--method", default="riemann_right")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--width", type=int, default=16)
    args = parser.parse_args(argv)
    result = run_benchmark(args.images, args.steps, args.method, args.repeats, args.width)
    print(
        f"GIG vs Captum IntegratedGradients on {result.images} images x {result.steps} steps ({result.method}), "
        f"ConvNet w{args.width} d3 on 32x32, best of {result.repeats}, {torch.get_num_threads()} threads"
    )
    for key, value in asdict(result).items():
        print(f"  {key:>20}: {value:.6g}" if isinstance(value, float) else f"  {key:>20}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
