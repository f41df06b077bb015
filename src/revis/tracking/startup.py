"""Start-up benchmark: how long each DVC stage takes from process start to its first node.

    python -m revis.tracking.startup [--repeat 2] [--stages world-ingest,baseline-train]

Runs every stage's own command (``./run-stage <pipeline> <kind>``, from dvc.yaml) with
``REVIS_STARTUP_PROBE`` set: the tracking hook prints the elapsed time when the first node is
about to start and the process exits, so nothing is computed or written and no input needs to
be current (``--before-inputs``: it stops before the first node loads its inputs, so it runs without
data/). Tracking is off (``REVIS_TRACKING=off``): the MLflow companion process starts in
parallel with the stage and is not on its critical path. Prints seconds per stage (the best of
``--repeat`` runs, as timeit does: the floor, not the noise) and their mean per stage kind: wall
seconds, and the CPU seconds (user + system) the stage's process spent, which a busy machine
inflates far less than the wall clock.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
from pathlib import Path

import yaml

from revis.tracking.hook import STARTUP_PROBE


def stage_commands(dvc_yaml: Path) -> dict[str, list[str]]:
    """``{stage: argv}`` of the stages that run a pipeline (not check-params)."""
    stages = yaml.safe_load(dvc_yaml.read_text())["stages"]
    commands = {name: str(spec["cmd"]).split() for name, spec in stages.items()}
    return {name: argv for name, argv in commands.items() if argv[0] == "./run-stage" and len(argv) == 3}


def startup_seconds(argv: list[str], root: Path, before_inputs: bool = False) -> tuple[float, float]:
    """Wall seconds from process start to the first node (``before_inputs``: to the pipeline's start, before
    the first node's inputs are loaded), and the CPU seconds the stage's processes spent."""
    env = {**os.environ, STARTUP_PROBE: "pipeline" if before_inputs else "1", "REVIS_TRACKING": "off"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(argv, cwd=root, env=env, capture_output=True, text=True, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    for line in done.stdout.splitlines():
        if line.startswith(f"{STARTUP_PROBE}="):
            return float(line.split("=", 1)[1]), cpu
    raise RuntimeError(f"{' '.join(argv)} did not reach its first node:\n{done.stderr[-2000:]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--stages", default="", help="comma-separated stage names (default: all)")
    parser.add_argument(
        "--before-inputs",
        action="store_true",
        help="stop when the pipeline starts, before the first node loads its inputs (no data/ needed)",
    )
    args = parser.parse_args(argv)
    root = Path.cwd()
    commands = stage_commands(root / "dvc.yaml")
    if args.stages:
        unknown = sorted(set(args.stages.split(",")) - set(commands))
        if unknown:
            parser.error(f"unknown stages: {', '.join(unknown)}")
        commands = {name: commands[name] for name in args.stages.split(",")}
    by_kind: dict[str, list[tuple[float, float]]] = {}
    print(f"{'stage':<24} {'wall s':>7} {'cpu s':>6}  (best of {args.repeat})")
    for name, command in commands.items():
        runs = [startup_seconds(command, root, args.before_inputs) for _ in range(args.repeat)]
        best = (min(wall for wall, _ in runs), min(cpu for _, cpu in runs))
        by_kind.setdefault(command[2], []).append(best)
        print(f"{name:<24} {best[0]:7.2f} {best[1]:6.2f}", flush=True)
    print(f"\n{'kind':<12} {'stages':>6} {'mean s':>7} {'max s':>6} {'mean cpu s':>10}")
    for kind, values in [*sorted(by_kind.items()), ("all", [v for vs in by_kind.values() for v in vs])]:
        walls, cpus = [w for w, _ in values], [c for _, c in values]
        print(
            f"{kind:<12} {len(values):>6} {statistics.mean(walls):7.2f} {max(walls):6.2f} {statistics.mean(cpus):10.2f}"
            + (f"  (sum {sum(walls):.0f} s wall, {sum(cpus):.0f} s cpu)" if kind == "all" else "")
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
