"""The MLflow side of tracking: one agent per store, shared by the stages of a ``dvc repro``.

    python -m revis.tracking.agent --serve <tracking-uri>   # the shared agent (Unix socket)
    python -m revis.tracking.agent <tracking-uri>           # one run, JSON lines on stdin (fallback)

A stage's ``TrackingClient`` connects to the store's socket (``socket_path``) and streams JSON
lines; the first stage that finds no agent starts one, detached. The agent listens before it
imports MLflow (so connecting never waits for that import), records each connection as one
run, and exits after ``IDLE_SECONDS`` without a connection. Importing MLflow and opening the
SQLite store cost about 4 CPU seconds, paid once per ``dvc repro`` instead of once per stage.

It ignores SIGINT and SIGTERM (a Ctrl-C or a ``kill`` of the stage reaches the whole process
group) so that it can record how the run ended: the stream closing without ``end`` means the
stage died -> ``KILLED``. For each run it also closes runs left RUNNING by stages whose process
is gone (both killed with -9), as ``FAILED``, so the UI never shows a phantom live run. After
``end`` it answers ``recorded`` (and any error lines before it), which the stage waits for.

A stage whose agent died or stopped replays its run to another agent as a later ``attempt``
(``revis.tracking.client``); runs carry the stage's ``revis.run_key`` and ``revis.attempt``
tags. An agent that starts attempt n deletes the partial records of earlier attempts; one that
finds a later attempt already recorded (it was stopped, then resumed) records nothing. On exit
the shared agent removes its socket, its lock file and its log (a crashed agent's log stays).
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from contextlib import suppress
from pathlib import Path
from typing import Any

from revis.tracking.store import exclusive_lock, mlflow_client

PROCESS_TAGS = ("revis.pid", "revis.host")  # only while RUNNING: they find runs whose stage died (close_orphans)
BATCH = 900  # MLflow's log_batch takes at most 1000 metrics
IDLE_SECONDS = float(os.environ.get("REVIS_AGENT_IDLE_S", "90"))  # exit after this long without a stage
RECORDED = "recorded"
RUN_KEY_TAG = "revis.run_key"  # one stage's run, whichever agent records it
ATTEMPT_TAG = "revis.attempt"  # 0, then 1, 2 when the stage replayed its run to another agent


def socket_path(tracking_uri: str) -> str:
    """Where the shared agent of ``tracking_uri`` listens (short: Unix socket paths are limited to 107 bytes)."""
    digest = hashlib.sha1(tracking_uri.encode()).hexdigest()[:16]
    return os.path.join(tempfile.gettempdir(), f"revis-mlflow-{os.getuid()}-{digest}.sock")


def _now_ms() -> int:
    return int(time.time() * 1000)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Agent:
    def __init__(self, tracking_uri: str, attempts: int = 5, client: Any = None) -> None:
        """``client``: an MlflowClient to share (the shared agent: one per store, one ``Agent`` per run)."""
        self.uri = tracking_uri
        self.run_id: str | None = None
        self.host = socket.gethostname()
        self.run_key: str | None = None
        self.attempt = 0
        self.superseded = False  # a later attempt of the same stage's run is recorded by another agent
        if client is not None:
            self.client = client
            return
        for attempt in range(attempts):  # a server or a store that is busy or not yet reachable
            try:
                self.client = mlflow_client(tracking_uri)
                break
            except Exception:
                if attempt == attempts - 1:
                    raise
                time.sleep(1 + attempt)

    # -- housekeeping -------------------------------------------------------------------------
    def close_orphans(self) -> None:
        """Runs left RUNNING by a stage of this host whose process is gone: FAILED."""
        try:
            experiments = [e.experiment_id for e in self.client.search_experiments()]
            if not experiments:
                return
            runs = self.client.search_runs(experiments, "attributes.status = 'RUNNING'", max_results=500)
        except Exception:  # a store that cannot be searched is no reason to lose this run
            return
        for run in runs:
            tags = run.data.tags
            pid = tags.get("revis.pid")
            if tags.get("revis.host") == self.host and pid and pid.isdigit() and not _process_alive(int(pid)):
                self.client.set_tag(run.info.run_id, "revis.end", "process gone, found by a later stage")
                self.client.set_terminated(run.info.run_id, "FAILED")
                self.forget_process(run.info.run_id)

    def experiment(self, name: str, artifact_location: str | None, tags: dict[str, str]) -> str:
        self._hide_empty_default()
        found = self.client.get_experiment_by_name(name)
        if found is None:
            try:
                return self.client.create_experiment(name, artifact_location=artifact_location, tags=tags)
            except Exception:  # created by a concurrent stage meanwhile
                found = self.client.get_experiment_by_name(name)
                if found is None:
                    raise
        if found.lifecycle_stage == "deleted":
            self.client.restore_experiment(found.experiment_id)
        for key, value in tags.items():
            if found.tags.get(key) != value:
                self.client.set_experiment_tag(found.experiment_id, key, value)
        return found.experiment_id

    def _hide_empty_default(self) -> None:
        """MLflow's store creates an empty "Default" experiment; revis never logs there."""
        try:
            default = self.client.get_experiment("0")
            if default.lifecycle_stage == "active" and not self.client.search_runs(["0"], max_results=1):
                self.client.delete_experiment("0")
        except Exception:
            pass

    # -- events ---------------------------------------------------------------------------------
    def handle(self, event: dict[str, Any]) -> bool:
        """Apply one event; False after ``end``."""
        op = event["op"]
        if self.superseded:
            return op != "end"
        if op == "start":
            self._start(event)
            return True
        if self.run_id is None:
            raise RuntimeError(f"tracking event {op!r} before the run started")
        if op == "end":
            self._end(self.run_id, event)
            return False
        self._log(self.run_id, op, event)
        return True

    def _start(self, event: dict[str, Any]) -> None:
        experiment_id = self.experiment(
            event["experiment"], event.get("artifact_location"), event.get("experiment_tags") or {}
        )
        tags = dict(event.get("tags") or {})
        self.run_key, self.attempt = tags.get(RUN_KEY_TAG), int(event.get("attempt") or 0)
        if self.run_key and not self._replace_earlier_attempts(experiment_id):
            self.superseded = True
            return
        tags[ATTEMPT_TAG] = str(self.attempt)
        run = self.client.create_run(
            experiment_id,
            start_time=event.get("start_time") or _now_ms(),
            tags=tags,
            run_name=event.get("run_name"),
        )
        self.run_id = run.info.run_id

    def _end(self, run_id: str, event: dict[str, Any]) -> None:
        if self._later_attempt_recorded():
            self.client.delete_run(run_id)
        else:
            self.client.set_terminated(run_id, event.get("status", "FINISHED"), end_time=event.get("end_time"))
            self.forget_process(run_id)

    def _log(self, run_id: str, op: str, event: dict[str, Any]) -> None:
        from mlflow.entities import Metric, Param, RunTag

        if op == "params":
            items = [Param(k, str(v)) for k, v in event["params"].items()]
            for i in range(0, len(items), 100):
                self.client.log_batch(run_id, params=items[i : i + 100])
        elif op == "tags":
            self.client.log_batch(run_id, tags=[RunTag(k, str(v)) for k, v in event["tags"].items()])
        elif op in ("metrics", "curves"):
            stamp = _now_ms()
            points = event["points"] if op == "curves" else [[event.get("step") or 0, event["values"]]]
            metrics = [Metric(k, float(v), stamp, int(step)) for step, values in points for k, v in values.items()]
            for i in range(0, len(metrics), BATCH):
                self.client.log_batch(run_id, metrics=metrics[i : i + BATCH])
        elif op == "artifact":
            self.client.log_artifact(run_id, event["path"], event.get("artifact_path"))
        elif op == "metrics_file":
            self.log_metrics_file(Path(event["path"]), event.get("claims"))
        else:
            raise ValueError(f"unknown tracking event {op!r}")

    def log_metrics_file(self, path: Path, claims_path: str | None) -> None:
        """The claims' headline, their summaries and a description; metrics.json and its table (revis.tracking.run_metrics)."""
        from mlflow.entities import Metric

        from revis.tracking.run_metrics import DESCRIPTION_TAG, TABLE_ARTIFACT, run_metrics

        shown = run_metrics(json.loads(path.read_text()), claims_path)
        stamp = _now_ms()
        items = [Metric(k, float(v), stamp, 0) for k, v in shown.metrics.items()]  # headline first
        for i in range(0, len(items), BATCH):
            self.client.log_batch(self.run_id, metrics=items[i : i + BATCH])  # type: ignore[arg-type]
        if shown.description:
            self.client.set_tag(self.run_id, DESCRIPTION_TAG, shown.description)  # type: ignore[arg-type]
        if shown.table:
            self.client.log_text(self.run_id, shown.table, TABLE_ARTIFACT)  # type: ignore[arg-type]
        self.client.log_artifact(self.run_id, str(path))  # type: ignore[arg-type]

    def kill(self, reason: str) -> None:
        if self.run_id is None:
            return
        if self._later_attempt_recorded():  # the stage replayed its run elsewhere: this record is partial
            self.client.delete_run(self.run_id)
            return
        self.client.set_tag(self.run_id, "revis.end", reason)
        self.client.set_terminated(self.run_id, "KILLED")
        self.forget_process(self.run_id)

    def forget_process(self, run_id: str) -> None:
        """Drop the process tags of an ended run: the UI shows what a researcher compares, not pids."""
        for tag in PROCESS_TAGS:
            with suppress(Exception):  # absent (a run from before, or not a revis stage)
                self.client.delete_tag(run_id, tag)

    # -- attempts: a stage replays its run when its agent died or stopped -----------------------
    def _attempts(self, experiment_id: str) -> list[Any]:
        query = f"tags.`{RUN_KEY_TAG}` = '{self.run_key}'"
        return list(self.client.search_runs([experiment_id], query, max_results=100))

    def _replace_earlier_attempts(self, experiment_id: str) -> bool:
        """Delete the partial records of earlier attempts; False if a later attempt is already recorded."""
        runs = self._attempts(experiment_id)
        if any(int(r.data.tags.get(ATTEMPT_TAG, "0")) > self.attempt for r in runs):
            return False
        for run in runs:
            self.client.delete_run(run.info.run_id)
        return True

    def _later_attempt_recorded(self) -> bool:
        if not self.run_key or self.run_id is None:
            return False
        experiment_id = self.client.get_run(self.run_id).info.experiment_id
        return any(int(r.data.tags.get(ATTEMPT_TAG, "0")) > self.attempt for r in self._attempts(experiment_id))


def record_run(agent: Agent, lines: Iterable[str], report: Callable[[str], None]) -> bool:
    """Apply one stage's events; True if it ended its run, else the run is recorded KILLED."""
    agent.close_orphans()
    for line in lines:
        if not line.strip():
            continue
        try:
            if not agent.handle(json.loads(line)):
                return True
        except Exception as exc:  # one bad event must not lose the rest of the run
            report(f"revis tracking agent: {type(exc).__name__}: {exc}")
    try:
        agent.kill("the stage's process ended without closing its run (killed or interrupted)")
    except Exception as exc:
        report(f"revis tracking agent: {type(exc).__name__}: {exc}")
    return False


def _quiet() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    import logging

    logging.getLogger("mlflow").setLevel(logging.WARNING)


def _connectable(path: str) -> bool:
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
        return True
    except OSError:
        return False
    finally:
        probe.close()


def _serve_connection(tracking_uri: str, client: Any, connection: socket.socket) -> None:
    with connection, connection.makefile("r", encoding="utf-8") as lines:

        def report(message: str) -> None:
            print(message, file=sys.stderr)
            with suppress(OSError):
                connection.sendall(f"error: {message}\n".encode())

        if record_run(Agent(tracking_uri, client=client), lines, report):
            with suppress(OSError):
                connection.sendall(f"{RECORDED}\n".encode())


def _listen(path: str) -> socket.socket | None:
    """A server socket bound at ``path``; None when another agent already serves there."""
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    with exclusive_lock(path + ".lock"):  # two stages starting agents at once: one binds
        if _connectable(path):
            server.close()
            return None
        if os.path.exists(path):
            os.unlink(path)  # left by an agent that died
        server.bind(path)
        server.listen(64)
    return server


class _Connections:
    """The connections a shared agent serves, one thread each, and since when it has had none."""

    def __init__(self, server: socket.socket, tracking_uri: str, client: Any) -> None:
        self.server, self.tracking_uri, self.client = server, tracking_uri, client
        self.busy, self.last, self.guard = 0, time.monotonic(), threading.Lock()

    def _run(self, connection: socket.socket) -> None:
        try:
            _serve_connection(self.tracking_uri, self.client, connection)
        finally:
            with self.guard:
                self.busy, self.last = self.busy - 1, time.monotonic()

    def accept(self, timeout: float | None) -> bool:
        """Serve the next connection in a thread; False when none came within ``timeout``."""
        self.server.settimeout(timeout)
        try:
            connection, _ = self.server.accept()
        except (TimeoutError, BlockingIOError):
            return False
        connection.settimeout(None)
        with self.guard:
            self.busy += 1
        threading.Thread(target=self._run, args=(connection,), daemon=True).start()
        return True

    def idle_for(self, seconds: float) -> bool:
        with self.guard:
            return self.busy == 0 and time.monotonic() - self.last > seconds

    def wait(self) -> None:
        """Until every connection is served."""
        while True:
            with self.guard:
                if self.busy == 0:
                    return
            time.sleep(0.1)


def serve(tracking_uri: str, path: str | None = None, idle: float = IDLE_SECONDS) -> int:
    """The shared agent: listen first, import MLflow, then record one run per connection until idle."""
    _quiet()
    path = path or socket_path(tracking_uri)
    server = _listen(path)
    if server is None:
        return 0
    connections = _Connections(server, tracking_uri, Agent(tracking_uri).client)
    while connections.accept(1.0) or not connections.idle_for(idle):
        pass
    with exclusive_lock(path + ".lock", remove=True):  # new stages start a new agent from here on
        os.unlink(path)
    while connections.accept(0.0):  # serve whoever connected meanwhile
        pass
    server.close()
    with suppress(OSError):  # its error lines also went to the stages; an agent that crashed keeps its log
        os.unlink(path + ".log")
    connections.wait()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["--serve"]:
        return serve(args[1])
    _quiet()
    agent = Agent(args[0])
    record_run(agent, sys.stdin, lambda message: print(message, file=sys.stderr))
    return 0


if __name__ == "__main__":
    sys.exit(main())
