"""The stage side of tracking: events streamed to the MLflow agent, never an MLflow import.

``TrackingClient(uri)`` connects to the store's shared agent (``revis.tracking.agent``; it
starts one, detached, when none listens) and writes JSON lines to the connection from a
background thread (a stage never blocks on tracking). Curves are batched. ``close(status)``
sends the end of the run and waits for the agent to answer that it recorded it. If the stage
dies without closing (kill -9, SIGTERM, Ctrl-C), the agent sees the connection close and
records the run as KILLED. Where no Unix socket can be had, the stage falls back to its own
agent process fed on stdin (the same events, the same ending).

The client keeps every event of its run. When the agent dies (its connection breaks, or it
hangs up before answering) or stops (SIGSTOP: its process state is "stopped" for
``STOPPED_SECONDS``), the client replays the run from its first event to a new agent -- the
shared one restarted, or a private one -- as attempt n+1; that agent deletes the partial
record of the earlier attempt (same ``revis.run_key``), so the store holds one run, with all
its metrics and the status the stage ended with. A busy agent (logging a large artifact) is
waited for up to ``AGENT_WAIT_SECONDS``; a stopped one only for ``STOPPED_SECONDS``.
"""

from __future__ import annotations

import json
import os
import select
import socket
import struct
import subprocess
import sys
import threading
import time
import uuid
from contextlib import suppress
from pathlib import Path
from typing import Any

from revis.tracking.agent import RECORDED, RUN_KEY_TAG, socket_path

_active: TrackingClient | None = None
FLUSH_SECONDS = 0.5
AGENT_WAIT_SECONDS = 120  # a busy but running agent
STOPPED_SECONDS = 2.0  # an agent whose process is stopped (SIGSTOP) or gone is given up after this
CONNECT_SECONDS = 15.0  # a new shared agent listens within a second; then fall back to a private one
ATTEMPTS = 3  # agents tried per run: the shared one, a restarted shared one, a private one
POLL_SECONDS = 0.25


def _connect(tracking_uri: str, wait: float = CONNECT_SECONDS) -> socket.socket | None:
    """A connection to the store's shared agent, starting one (detached) if none listens."""
    if not hasattr(socket, "AF_UNIX"):
        return None
    path = socket_path(tracking_uri)
    deadline, started = time.monotonic() + wait, False
    while True:
        connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        connection.settimeout(STOPPED_SECONDS)  # a stopped agent's full backlog would block connect() for good
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


def _peer_pid(connection: socket.socket) -> int | None:
    """The agent's process id (Linux: the listening socket's credentials), or None where unknown."""
    option = getattr(socket, "SO_PEERCRED", None)
    if option is None:
        return None
    try:
        pid, _, _ = struct.unpack("3i", connection.getsockopt(socket.SOL_SOCKET, option, struct.calcsize("3i")))
    except OSError:
        return None
    return pid or None


def process_state(pid: int | None) -> str:
    """``running`` (or unknown), ``stopped`` (SIGSTOP, a debugger) or ``gone`` (exited, zombie)."""
    if pid is None:
        return "running"
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return "gone"
    except OSError:
        return "running"
    state = stat.rsplit(")", 1)[-1].split()[0]
    return "stopped" if state in ("T", "t") else "gone" if state in ("Z", "X") else "running"


class AgentLost(Exception):
    """The agent died, stopped or hung up before recording the run: replay the run to another one."""


class _Socket:
    """One connection to the shared agent; writes and the answer are bounded by the agent's liveness."""

    private = False

    def __init__(self, connection: socket.socket) -> None:
        self.connection = connection
        self.pid = _peer_pid(connection)
        connection.setblocking(False)
        self._stopped_since: float | None = None

    def _check(self) -> None:
        state = process_state(self.pid)
        if state == "gone":
            raise AgentLost(f"the MLflow agent (process {self.pid}) is gone")
        if state == "stopped":
            now = time.monotonic()
            self._stopped_since = self._stopped_since or now
            if now - self._stopped_since > STOPPED_SECONDS:
                raise AgentLost(f"the MLflow agent (process {self.pid}) is stopped")
        else:
            self._stopped_since = None

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            _, writable, _ = select.select([], [self.connection], [], POLL_SECONDS)
            if not writable:
                self._check()
                continue
            try:
                view = view[self.connection.send(view) :]
            except BlockingIOError:
                continue
            except OSError as exc:
                raise AgentLost(f"the connection to the MLflow agent broke ({exc.strerror or exc})") from None

    def finish(self, deadline: float) -> list[str]:
        """End of events; the agent's error lines, once it answered that it recorded the end."""
        try:
            self.connection.shutdown(socket.SHUT_WR)
        except OSError as exc:
            raise AgentLost(f"the connection to the MLflow agent broke ({exc.strerror or exc})") from None
        buffer, errors = b"", list[str]()
        while True:
            readable, _, _ = select.select([self.connection], [], [], POLL_SECONDS)
            if not readable:
                self._check()
                if time.monotonic() > deadline:
                    raise TimeoutError
                continue
            try:
                chunk = self.connection.recv(65536)
            except BlockingIOError:
                continue
            except OSError as exc:
                raise AgentLost(f"the connection to the MLflow agent broke ({exc.strerror or exc})") from None
            if not chunk:
                raise AgentLost("the MLflow agent hung up before recording the end of the run")
            buffer += chunk
            *lines, rest = buffer.split(b"\n")
            buffer = rest
            for line in lines:
                text = line.decode("utf-8", "replace").rstrip()
                if text == RECORDED:
                    return errors
                errors.append(text)

    def abandon(self) -> None:
        with suppress(OSError):
            self.connection.close()


class _Private:
    """The stage's own agent process, fed on stdin (no Unix socket, or the shared agent failed)."""

    private = True

    def __init__(self, tracking_uri: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "revis.tracking.agent", tracking_uri],
            stdin=subprocess.PIPE,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.pid = self.process.pid

    def write(self, data: bytes) -> None:
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(data)
            self.process.stdin.flush()
        except (BrokenPipeError, OSError, ValueError) as exc:
            raise AgentLost(f"the private MLflow agent is gone ({exc})") from None

    def finish(self, deadline: float) -> list[str]:
        assert self.process.stdin is not None
        with suppress(OSError):
            self.process.stdin.close()
        try:
            code = self.process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            raise TimeoutError from None
        if code != 0:
            raise AgentLost(f"the private MLflow agent exited with status {code}")
        return []  # its error lines went to the stage's stderr directly

    def abandon(self) -> None:
        self.process.kill()


def active() -> TrackingClient | None:
    """The client of the running stage, or None (tests, notebooks, tracking off)."""
    return _active


class TrackingClient:
    def __init__(self, tracking_uri: str) -> None:
        self.tracking_uri = tracking_uri
        self.run_key = uuid.uuid4().hex
        self._events: list[dict[str, Any]] = []
        self._changed = threading.Condition()
        self._ending = False
        self._curves: dict[int, dict[str, float]] = {}
        self._curves_lock = threading.Lock()
        self._last_flush = time.monotonic()
        self.attempt = 0
        self.failures: list[str] = []  # why earlier agents were given up
        self.outcome: str | None = None  # recorded | errors | busy | lost, once closed
        self.errors: list[str] = []
        self._deadline = float("inf")
        self._transport: _Socket | _Private | None = self._open(shared=True)
        self._writer = threading.Thread(target=self._write, name="revis-tracking", daemon=True)
        self._writer.start()
        self.closed = False

    @property
    def agent_pid(self) -> int | None:
        return self._transport.pid if self._transport is not None else None

    # -- events ---------------------------------------------------------------------------------
    def send(self, op: str, **fields: Any) -> None:
        if self.closed:
            return
        event = {"op": op, **fields}
        if op == "start":
            event["tags"] = {**(event.get("tags") or {}), RUN_KEY_TAG: self.run_key}
        with self._changed:
            self._events.append(event)
            self._changed.notify()

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
        """End the run with ``status`` and wait for an agent to record it: 0 (recorded), 1 (recorded with
        errors, or no agent could record it: ``outcome``, ``errors`` and ``failures`` say which), None
        (still busy after ``timeout``)."""
        if self.closed:
            return None
        self.flush_curves()
        self.send("end", status=status, end_time=int(time.time() * 1000))
        self.closed = True
        with self._changed:
            self._deadline = time.monotonic() + timeout
            self._ending = True
            self._changed.notify()
        self._writer.join(timeout + ATTEMPTS * (STOPPED_SECONDS + CONNECT_SECONDS))
        for line in self.errors:
            print(line, file=sys.stderr)  # the agent's error lines about this run
        if self.outcome == "recorded":
            return 0
        if self.outcome == "busy" or self.outcome is None:
            print(f"revis tracking: the MLflow agent is still busy after {timeout:.0f} s", file=sys.stderr)
            return None
        return 1

    # -- plumbing -------------------------------------------------------------------------------
    def _open(self, shared: bool) -> _Socket | _Private | None:
        if shared:
            connection = _connect(self.tracking_uri)
            if connection is not None:
                return _Socket(connection)
        try:
            return _Private(self.tracking_uri)
        except OSError as exc:
            self.failures.append(f"no private MLflow agent could start ({exc})")
            return None

    def _write(self) -> None:
        """Stream the events to the agent; replay them to another agent when it is lost."""
        written = 0
        while True:
            with self._changed:
                while written == len(self._events) and not self._ending:
                    self._changed.wait()
                batch, ending = self._events[written:], self._ending
            if self._transport is None:
                self.outcome = "lost"
                return
            try:
                if batch:
                    data = "".join(self._line(event, written + i) for i, event in enumerate(batch))
                    self._transport.write(data.encode("utf-8"))
                    written += len(batch)
                    continue
                if ending:
                    self.errors = self._transport.finish(self._deadline)
                    self.outcome = "errors" if self.errors else "recorded"
                    return
            except TimeoutError:
                self.outcome = "busy"
                return
            except AgentLost as lost:
                self.failures.append(str(lost))
                self._transport.abandon()
                self.attempt += 1
                if self.attempt >= ATTEMPTS:
                    self._transport, self.outcome = None, "lost"
                    return
                # a dead shared agent is restarted; a stopped one would still hold the socket: go private
                shared = not isinstance(self._transport, _Private) and "stopped" not in str(lost)
                self._transport = self._open(shared=shared and self.attempt < ATTEMPTS - 1)
                written = 0

    def _line(self, event: dict[str, Any], index: int) -> str:
        if index == 0 and event.get("op") == "start":
            event = {**event, "attempt": self.attempt}
        return json.dumps(event, default=str) + "\n"


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
        client = _active
        code = client.close(status)
        if client.failures and client.outcome == "recorded":
            print(
                f"revis tracking: run recorded {status} by another MLflow agent after: {'; '.join(client.failures)}",
                file=sys.stderr,
            )
        elif client.outcome == "errors":
            print("revis tracking: the MLflow agent recorded the run with the errors above", file=sys.stderr)
        elif code == 1:
            print(f"revis tracking: the run could not be recorded: {'; '.join(client.failures)}", file=sys.stderr)
        _active = None
