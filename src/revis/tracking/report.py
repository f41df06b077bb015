"""Per-stage time table of a ``dvc repro``, read from the MLflow records (not hand-timed).

    python -m revis.tracking.report [--since EPOCH_SECONDS] [--stages dvc.yaml]

For every stage of ``dvc.yaml`` the latest run since ``--since``: its status, its start-up
(process start to the first node: interpreter, Kedro, hooks, imports of the node modules),
its compute (first node to the end of the last) and the total. Stages DVC found up to date
have no run ("cached"). A second table gives the start-up per stage kind, the figure the
start-up benchmark in the README reports.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import yaml


def latest_runs(tracking_uri: str, since_ms: int) -> dict[str, Any]:
    """``{dvc_stage: run}`` of the newest run of each stage started at or after ``since_ms``."""
    from revis.tracking.store import mlflow_client

    client = mlflow_client(tracking_uri)
    experiments = [e.experiment_id for e in client.search_experiments()]
    if not experiments:
        return {}
    runs = client.search_runs(
        experiments, f"attributes.start_time >= {since_ms}", max_results=5000, order_by=["attributes.start_time ASC"]
    )
    return {run.data.tags.get("dvc_stage", run.info.run_name): run for run in runs}


def timing(metrics: dict[str, float], name: str) -> float | None:
    """A timing of a run: ``system/timing/<name>`` (``timing.<name>`` in stores written before the rename)."""
    return metrics.get(f"system/timing/{name}", metrics.get(f"timing.{name}"))


def time_table(stages: list[str], runs: dict[str, Any]) -> tuple[list[list[str]], dict[str, list[float]]]:
    rows: list[list[str]] = []
    startup_by_kind: dict[str, list[float]] = {}
    total_startup = total_compute = 0.0
    for stage in stages:
        run = runs.get(stage)
        if run is None:
            rows.append([stage, "cached", "", "", "", ""])
            continue
        startup, compute, cpu = (timing(run.data.metrics, name) for name in ("startup_s", "stage_s", "startup_cpu_s"))
        total = (run.info.end_time - run.info.start_time) / 1000 if run.info.end_time else None
        if startup is not None:
            startup_by_kind.setdefault(run.data.tags.get("stage_kind", "?"), []).append(startup)
            total_startup += startup
        total_compute += compute or 0.0
        fmt = lambda v: "" if v is None else f"{v:.1f}"  # noqa: E731
        rows.append([stage, run.info.status.lower(), fmt(startup), fmt(cpu), fmt(compute), fmt(total)])
    rows.append(["all stages", "", f"{total_startup:.1f}", "", f"{total_compute:.1f}", ""])
    return rows, startup_by_kind


def main(argv: list[str] | None = None) -> int:
    from rich.console import Console
    from rich.table import Table

    from revis.tracking.store import tracking_uri

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--since", type=float, default=time.time() - 24 * 3600, help="epoch seconds")
    parser.add_argument("--stages", type=Path, default=Path("dvc.yaml"))
    args = parser.parse_args(argv)
    stages = list(yaml.safe_load(args.stages.read_text())["stages"])
    runs = latest_runs(tracking_uri(), int(args.since * 1000))
    rows, by_kind = time_table(stages, runs)
    console = Console(width=120)
    table = Table(title="dvc repro: seconds per stage (MLflow records)")
    for column in ("stage", "status", "start-up", "start-up CPU", "compute", "total"):
        table.add_column(column, justify="left" if column in ("stage", "status") else "right")
    for row in rows:
        table.add_row(*row)
    console.print(table)
    if by_kind:
        kinds = Table(title="start-up per stage kind (process start -> first node)")
        for column in ("kind", "stages", "mean s", "max s"):
            kinds.add_column(column)
        for kind, values in sorted(by_kind.items()):
            kinds.add_row(kind, str(len(values)), f"{statistics.mean(values):.2f}", f"{max(values):.2f}")
        console.print(kinds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
