"""The stage side of tracking: events streamed to the MLflow agent, never an MLflow import.

``TrackingClient(uri)`` connects to the store's shared agent (``revis.tracking.agent``; it
starts one, detached, when none listens) and writes JSON lines to the connection from a
background thread (a stage never blocks on tracking). Curves are batched. ``close(status)``
sends the end of the run and waits for the agent to answer that it recorded it. If the stage
dies without closing (kill -9, SIGTERM, Ctrl-C), the agent sees the connection close and
records the run as KILLED. Where no Unix socket can be had, the stage falls back to its own
agent process fed on stdin (the same events, the same ending).
"""

from __future__ import annotations

import json
import os
import queue
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from revis.tracking.agent import RECORDED, socket_path

_active: TrackingClient | None = None
FLUSH_SECONDS = 0.5
AGENT_WAIT_SECONDS = 120
CONNECT_SECONDS = 15.0  # a new shared agent listens within a second; then fall back to a private one


def _connect(tracking_uri: str, wait: float = CONNECT_SECONDS) -> socket.socket | None:
    """A connection to the store's shared agent, starting one (detached) if none listens."""
    if not hasattr(socket, "AF_UNIX"):
        return None
    path = socket_path(tracking_uri)
    deadline, started = time.monotonic() + wait, False
    while True:
        connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            connection.connect(path)
            return connection
        except OSError:
            connection.close()
        if not started:
            with open(path + ".log", "a") as log:  # not the stage's stderr: whoever reads it would wait for the agent
                subprocess.Popen(
                    [sys.executable, "-m", "revis.tracking.agent", "--serve", tracking_uri],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                    env={**os.environ, "PYTHONUNBUFFERED": "1"},
                    start_new_session=True,  # outlives the stage and the repro's Ctrl-C
                )
            started = True
        if time.monotonic() > deadline:
            return None
        time.sleep(0.02)


def active() -> TrackingClient | None:
    """The client of the running stage, or None (tests, notebooks, tracking off)."""
    return _active


class TrackingClient:
    def __init__(self, tracking_uri: str) -> None:
        self.tracking_uri = tracking_uri
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._curves: dict[int, dict[str, float]] = {}
        self._curves_lock = threading.Lock()
        self._last_flush = time.monotonic()
        self._connection = _connect(tracking_uri)
        self._agent: subprocess.Popen[str] | None = None
        if self._connection is not None:
            self._stream: Any = self._connection.makefile("w", encoding="utf-8")
        else:
            self._agent = subprocess.Popen(
                [sys.executable, "-m", "revis.tracking.agent", tracking_uri],
                stdin=subprocess.PIPE,
                text=True,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
            self._stream = self._agent.stdin
        self._writer = threading.Thread(target=self._write, name="revis-tracking", daemon=True)
        self._writer.start()
        self.closed = False

    # -- events ---------------------------------------------------------------------------------
    def send(self, op: str, **fields: Any) -> None:
        if not self.closed:
            self._queue.put({"op": op, **fields})

    def start_run(self, **fields: Any) -> None:
        self.send("start", **fields)

    def log_params(self, params: dict[str, Any]) -> None:
        self.send("params", params={k: _short(v) for k, v in params.items()})

    def set_tags(self, tags: dict[str, str]) -> None:
        self.send("tags", tags=tags)

    def log_metrics(self, values: dict[str, float], step: int | None = None) -> None:
        self.send("metrics", values=values, step=step)

    def log_curve(self, values: dict[str, float], step: int) -> None:
        """A point of one or more curves; batched (MLflow log_batch) every half second."""
        with self._curves_lock:
            self._curves.setdefault(step, {}).update(values)
            due = time.monotonic() - self._last_flush > FLUSH_SECONDS
        if due:
            self.flush_curves()

    def flush_curves(self) -> None:
        with self._curves_lock:
            curves, self._curves = self._curves, {}
            self._last_flush = time.monotonic()
        if curves:
            self.send("curves", points=[[step, values] for step, values in sorted(curves.items())])

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        self.send("artifact", path=str(Path(path).resolve()), artifact_path=artifact_path)

    def log_metrics_file(self, path: str | Path, claims: str | Path | None) -> None:
        """metrics.json: its numbers (no counts) and the claims' headline numbers, computed by the agent."""
        self.send("metrics_file", path=str(Path(path).resolve()), claims=str(claims) if claims else None)

    def close(self, status: str = "FINISHED", timeout: float = AGENT_WAIT_SECONDS) -> int | None:
        """End the run with ``status`` and wait for the agent to record it: 0, 1 (it reported errors or hung up),
        None (still busy after ``timeout``)."""
        if self.closed:
            return None
        self.flush_curves()
        self.send("end", status=status, end_time=int(time.time() * 1000))
        self.closed = True
        self._queue.put(None)
        self._writer.join(timeout)
        if self._agent is not None:
            try:
                return self._agent.wait(timeout)
            except subprocess.TimeoutExpired:
                print(f"revis tracking: the MLflow agent is still busy after {timeout:.0f} s", file=sys.stderr)
                return None
        assert self._connection is not None
        self._connection.settimeout(timeout)
        errors = False
        try:
            with self._connection.makefile("r", encoding="utf-8") as answers:
                for answer in answers:
                    if answer.strip() == RECORDED:
                        return 1 if errors else 0
                    print(answer.rstrip(), file=sys.stderr)  # the agent's error lines about this run
                    errors = True
        except TimeoutError:
            print(f"revis tracking: the MLflow agent is still busy after {timeout:.0f} s", file=sys.stderr)
            return None
        except OSError:
            pass
        finally:
            self._connection.close()
        return 1  # the agent hung up without recording the end

    # -- plumbing -------------------------------------------------------------------------------
    def _write(self) -> None:
        stream = self._stream
        assert stream is not None
        while True:
            event = self._queue.get()
            if event is None:
                break
            try:
                stream.write(json.dumps(event, default=str) + "\n")
                stream.flush()
            except (BrokenPipeError, ConnectionError, ValueError, OSError):
                return  # the agent is gone; the stage's own results are unaffected
        try:
            if self._connection is not None:
                stream.flush()
                self._connection.shutdown(socket.SHUT_WR)  # end of events; the answer comes back
            else:
                stream.close()
        except (BrokenPipeError, ConnectionError, ValueError, OSError):
            pass


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= 6000 else text[:5997] + "..."


def open_client(tracking_uri: str) -> TrackingClient:
    """Start tracking for this process (one stage = one run) and route ``revis.curves`` to it."""
    global _active
    from revis.curves import set_sink

    _active = TrackingClient(tracking_uri)
    set_sink(_active.log_curve)
    return _active


def close_client(status: str) -> None:
    global _active
    from revis.curves import set_sink

    if _active is not None:
        set_sink(None)
        code = _active.close(status)
        if code not in (0, None):
            print(f"revis tracking: the MLflow agent answered {code}; see its messages above", file=sys.stderr)
        _active = None
