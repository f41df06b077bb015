"""The Kedro hook that makes every stage an MLflow run: experiment = paper, run = DVC stage.

An experiment is described by its paper's title (``claims/<paper>.yaml``). A run carries the
paper's parameters (all of its section, dotted names), the tags a researcher filters and
compares by, step curves named ``<paper>/<arm>/seed<k>/<quantity>`` (``revis.curves``; the
hook adds the paper), timings of every node and of the stage (``system/timing/*``: MLflow's
"System metrics", apart from the model's; never in metrics.json), the stage's pictures and
metrics.json as artifacts, and, for the stage that writes metrics.json, the claims' headline
first (``revis.tracking.run_metrics``). How the run ended is recorded as MLflow run status:
FINISHED, FAILED (an exception), KILLED (interrupted, terminated or killed).

Tags: ``paper``, ``dvc_stage``, ``stage_kind``, ``mlflow.source.git.commit``, ``git_dirty``
(source and configuration only: what ``dvc repro`` writes never counts), ``params_hash`` (the
paper's section), ``dvc_exp`` / ``dvc_exp_baseline`` (inside ``dvc exp run``: DVC's own
``DVC_EXP_NAME`` / ``DVC_EXP_BASELINE_REV``). ``revis.pid`` and ``revis.host`` exist only while
the run is RUNNING (the agent finds runs whose stage died by them, and drops them at the end).
``REVIS_TRACKING=off`` turns tracking off.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import time
from pathlib import Path
from typing import Any

from kedro.framework.hooks import hook_impl

from revis.curves import set_sink
from revis.dvc_stages import STAGE_KINDS, stage_command
from revis.reporting.summary import flatten
from revis.tracking import client as tracking
from revis.tracking.run_metrics import DESCRIPTION_TAG
from revis.tracking.store import artifact_root, git_state, main_repo_root, tracking_uri, uses_local_store

STARTUP_PROBE = "REVIS_STARTUP_PROBE"  # set: print the start-up time at the first node and exit (the benchmark)
TIMING = "system/timing/"  # MLflow's UI shows `system/` metrics under "System metrics", apart from the model's

# Marks each paper's experiment as model training. MLflow 3.17's UI does not read it (a global
# "GenAI | Model training" switch in the browser does: revis.tracking.ui presets it); other
# MLflow clients and future UIs may.
EXPERIMENT_TAGS = {"mlflow.experimentKind": "custom_model_development"}
DESCRIPTIONS = {  # experiments without a claims file
    "scoreboard": "Published vs measured: every paper's claims, verdicts and effects (reports/SCOREBOARD.md)",
    "revis": "Every pipeline in one Kedro run",
}


def experiment_description(paper: str, root: Any) -> str:
    """The paper's title, then its source, from ``claims/<paper>.yaml``; else a fixed line, else the name."""
    import yaml

    path = Path(root) / "claims" / f"{paper}.yaml"
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError):
        return DESCRIPTIONS.get(paper, paper)
    title, source = raw.get("title"), raw.get("source")
    # plain text: the experiments list shows it raw, the runs table as markdown (its first line)
    return "\n\n".join(str(part) for part in (title or paper, source) if part)


def params_hash(section: Any) -> str:
    return hashlib.sha256(json.dumps(section, sort_keys=True, default=str).encode()).hexdigest()[:12]


def stage_of(run_params: dict[str, Any]) -> tuple[str, str, str]:
    """(paper, stage name, kind) of a Kedro run: ``csod``, ``csod-train``, ``train``."""
    names = run_params.get("pipeline_names") or [run_params.get("pipeline_name") or "__default__"]
    names = [names] if isinstance(names, str) else list(names)
    paper = names[0] if len(names) == 1 else "+".join(names)
    paper = "revis" if paper == "__default__" else paper
    kinds = [tag for tag in (run_params.get("tags") or []) if tag in STAGE_KINDS]
    kind = "+".join(kinds) or "all"
    return paper, f"{paper}-{kind}" if kinds else paper, kind


class _Terminated(KeyboardInterrupt):
    """SIGTERM as an exception, so that finally-blocks (atomic writes) run and the run ends KILLED."""


def _raise_terminated(signum: int, frame: Any) -> None:
    raise _Terminated(f"signal {signum}")


def _probe_exit() -> None:
    """The start-up benchmark's stop: print the seconds since the process started and exit, nothing written."""
    import psutil

    print(f"{STARTUP_PROBE}={time.time() - psutil.Process().create_time():.3f}", flush=True)
    os._exit(0)


class TrackingHook:
    def __init__(self) -> None:
        self._parameters: dict[str, Any] = {}
        self._project_path = None
        self._started = 0.0
        self._node_started: dict[str, float] = {}
        self._previous_sigterm: Any = None

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        self._parameters = context.config_loader["parameters"]
        self._project_path = context.project_path

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Any, catalog: Any) -> None:
        if os.environ.get(STARTUP_PROBE) == "pipeline":  # revis.tracking.startup --before-inputs: stop here
            _probe_exit()
        if os.environ.get("REVIS_TRACKING", "on").lower() in ("off", "0", "false"):
            return
        paper, stage, kind = stage_of(run_params)
        repo = main_repo_root(self._project_path or os.getcwd())
        sha, dirty = git_state(repo)
        section = self._parameters.get(paper, {})
        tags = {
            "paper": paper,
            "dvc_stage": stage,
            "stage_kind": kind,
            "mlflow.source.git.commit": sha,
            "mlflow.source.name": stage_command(paper, kind) if kind in STAGE_KINDS else "kedro run",
            "git_dirty": str(dirty).lower(),
            "params_hash": params_hash(section),
            "revis.pid": str(os.getpid()),
            "revis.host": socket.gethostname(),
        }
        for env, tag in (("DVC_EXP_NAME", "dvc_exp"), ("DVC_EXP_BASELINE_REV", "dvc_exp_baseline")):
            if os.environ.get(env):
                tags[tag] = os.environ[env]
        uri = tracking_uri()
        client = tracking.open_client(uri)
        self._started = time.perf_counter()
        client.start_run(
            experiment=paper,
            artifact_location=(artifact_root() / paper).as_uri() if uses_local_store(uri) else None,
            experiment_tags={
                **EXPERIMENT_TAGS,
                DESCRIPTION_TAG: experiment_description(paper, self._project_path or repo),
            },
            run_name=stage,
            start_time=int(time.time() * 1000),
            tags=tags,
        )
        client.log_params(flatten({paper: section}) if isinstance(section, dict) else {paper: section})
        # revis.curves names arm/seed/quantity; the paper completes the name (revis.curves.curve_name)
        set_sink(lambda values, step: client.log_curve({f"{paper}/{k}": v for k, v in values.items()}, step))
        self._previous_sigterm = signal.signal(signal.SIGTERM, _raise_terminated)

    @hook_impl
    def before_node_run(self, node: Any) -> None:
        if os.environ.get(STARTUP_PROBE) and not self._node_started:  # revis.tracking.startup: stop here
            _probe_exit()
        client = tracking.active()
        if client is not None and not self._node_started:  # start-up: process start -> the first node
            import resource

            import psutil

            usage = resource.getrusage(resource.RUSAGE_SELF)  # CPU seconds: comparable on a busy machine
            client.log_metrics(
                {
                    f"{TIMING}startup_s": time.time() - psutil.Process().create_time(),
                    f"{TIMING}startup_cpu_s": usage.ru_utime + usage.ru_stime,
                }
            )
            self._started = time.perf_counter()
        self._node_started[node.name] = time.perf_counter()

    @hook_impl
    def after_node_run(self, node: Any) -> None:
        client = tracking.active()
        if client is not None and node.name in self._node_started:
            client.log_metrics({f"{TIMING}{node.name}_s": time.perf_counter() - self._node_started[node.name]})

    @hook_impl
    def after_pipeline_run(self, run_params: dict[str, Any], pipeline: Any, catalog: Any) -> None:
        self._end("FINISHED")

    @hook_impl
    def on_pipeline_error(self, error: Exception, run_params: dict[str, Any], pipeline: Any, catalog: Any) -> None:
        client = tracking.active()
        if client is not None:
            client.set_tags({"revis.end": f"{type(error).__name__}: {str(error)[:400]}"})
        self._end("FAILED")

    def _end(self, status: str) -> None:
        client = tracking.active()
        if client is None:
            return
        client.log_metrics({f"{TIMING}stage_s": time.perf_counter() - self._started})
        if self._previous_sigterm is not None:
            signal.signal(signal.SIGTERM, self._previous_sigterm)
            self._previous_sigterm = None
        tracking.close_client(status)
