"""Links into the MLflow UI that open each paper's runs table, not MLflow's GenAI overview.

MLflow 3.17's UI picks between its GenAI view (traces, an assistant) and its model-training
view (runs table, charts, compare) with one global switch -- "GenAI | Model training" at the
top of the sidebar, remembered by the browser once clicked -- and ignores the experiment's
``mlflow.experimentKind`` tag. ``make ui`` serves the UI with ``--app-name revis``
(``revis.tracking.ui``), which presets that switch in every browser that has not chosen yet.
For any other MLflow server (a plain ``mlflow ui``, a shared server) the query parameter
``workflowType=machine_learning`` selects the model-training view for the page it is on, so
these links open the runs tables directly, and ``MANUAL_STEP`` is printed::

    python -m revis.tracking.links [--url http://127.0.0.1:5000] [--tracking-uri URI] [--create]

The experiments are read from the project's store (SQLite, read-only) or a tracking server's
REST API, without importing MLflow.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import urllib.parse
import urllib.request

from revis.tracking.store import mlflow_client, sqlite_file, store_creation_lock, tracking_uri

WORKFLOW = "workflowType=machine_learning"
MANUAL_STEP = (
    "Served by a plain `mlflow ui` / `mlflow server` (not `make ui`), or a browser that chose GenAI before?\n"
    'If a page shows Traces, "Welcome" or "Detect Issues": click "Model training" at the top of the\n'
    "sidebar once; the browser remembers it, and every page then opens on runs tables."
)


def ui_url(base: str, experiment_id: str | None = None) -> str:
    """The experiments list, or one experiment's runs table, in the model-training view."""
    path = f"/{experiment_id}" if experiment_id is not None else ""
    return f"{base.rstrip('/')}/#/experiments{path}?{WORKFLOW}"


def compare_url(base: str, experiment_id: str, run_ids: list[str]) -> str:
    """MLflow's compare view of ``run_ids`` (parameters, metrics and tags side by side)."""
    runs = json.dumps(run_ids, separators=(",", ":"))
    return f"{base.rstrip('/')}/#/compare-runs?runs={runs}&experiments={json.dumps([experiment_id])}&{WORKFLOW}"


def experiments(uri: str) -> list[tuple[str, str]]:
    """(id, name) of the active experiments of a store, by name; [] when the store does not exist yet."""
    path = sqlite_file(uri)
    if path is not None:
        with store_creation_lock(uri):  # not a store that an agent is creating right now
            if not path.is_file():
                return []
            with sqlite3.connect(f"file:{urllib.parse.quote(path.as_posix())}?mode=ro", uri=True) as db:
                rows = db.execute(
                    "SELECT experiment_id, name FROM experiments WHERE lifecycle_stage = 'active' ORDER BY name"
                ).fetchall()
        return [(str(i), name) for i, name in rows]
    if uri.startswith(("http://", "https://")):
        request = urllib.request.Request(
            f"{uri.rstrip('/')}/api/2.0/mlflow/experiments/search",
            data=json.dumps({"max_results": 1000}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            found = json.loads(response.read()).get("experiments", [])
        return sorted(((e["experiment_id"], e["name"]) for e in found), key=lambda e: e[1])
    raise ValueError(f"cannot list the experiments of {uri!r} (sqlite:/// or http(s):// expected)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:5000", help="where the MLflow UI is served")
    parser.add_argument(
        "--tracking-uri", default=None, help="the store (default: the project's, or MLFLOW_TRACKING_URI)"
    )
    parser.add_argument(
        "--create", action="store_true", help="create a missing SQLite store (before `mlflow server` opens it)"
    )
    args = parser.parse_args(argv)
    uri = args.tracking_uri or tracking_uri()
    store = sqlite_file(uri)
    if args.create and store is not None and not store.is_file():
        mlflow_client(uri)  # under the creation lock: a server creating it while a stage's agent does corrupts it
    found = experiments(uri)
    print(f"MLflow UI (runs tables, not the GenAI view): {ui_url(args.url)}")
    width = max((len(name) for _, name in found), default=0)
    for experiment_id, name in found:
        print(f"  {name:<{width}}  {ui_url(args.url, experiment_id)}")
    if not found:
        print("  (no runs recorded yet: `dvc repro` first)")
    print(MANUAL_STEP)
    return 0


if __name__ == "__main__":
    sys.exit(main())
