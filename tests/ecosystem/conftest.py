"""Fixtures of the ecosystem tests: an MLflow server on 127.0.0.1, a headless Chromium, screenshots.

The browser comes from Debian's ``chromium`` and ``chromium-driver`` (``.ci/run`` installs them);
without them the browser tests skip, saying what to install.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

BIN = Path(sys.executable).parent
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1600,1000",
)
SERVER_START_SECONDS = 300  # MLflow's server imports a lot; the shared 2-core machine is slow


def free_port() -> int:
    """A free port on 127.0.0.1 below the ephemeral range (kedro-viz refuses ports above 49151)."""
    rng = random.Random()
    for _ in range(200):
        port = rng.randint(20_000, 32_000)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port between 20000 and 32000 on 127.0.0.1")


def http_json(url: str, body: dict[str, Any] | None = None, timeout: float = 30) -> Any:
    request = urllib.request.Request(
        url, data=None if body is None else json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


def wait_for_http(url: str, process: subprocess.Popen, seconds: float, log: Path) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{url}: the server exited with {process.returncode}:\n{log.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(1)
    pytest.fail(f"{url} did not answer within {seconds:.0f} s:\n{log.read_text()[-4000:]}")


def stop(process: subprocess.Popen) -> None:
    """Stop a server started in its own session, and everything it started (workers)."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)


@pytest.fixture(scope="module")
def start_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., str]]:
    """``start_server(argv, health_path, cwd=None, env=None) -> base URL``: a server on 127.0.0.1, stopped after the module.

    ``argv`` may contain ``{port}``; the server runs in its own session so that stopping it stops its workers.
    """
    started: list[subprocess.Popen] = []

    def start(argv: list[str], health_path: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
        port = free_port()
        log = tmp_path_factory.mktemp("server") / "server.log"
        base_env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "1"}
        base_env["KEDRO_DISABLE_TELEMETRY"] = "true"
        with log.open("w") as sink:
            process = subprocess.Popen(
                [arg.format(port=port) for arg in argv],
                cwd=cwd,
                env={**base_env, **(env or {})},
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        started.append(process)
        base = f"http://127.0.0.1:{port}"
        wait_for_http(base + health_path, process, SERVER_START_SECONDS, log)
        return base

    yield start
    for process in started:
        stop(process)


@pytest.fixture(scope="module")
def mlflow_server(start_server: Callable[..., str]) -> Callable[..., str]:
    """``mlflow_server(backend_uri, artifacts=None) -> base URL``: ``mlflow server`` on 127.0.0.1 (one worker)."""

    def start(backend_uri: str, artifacts: Path | None = None) -> str:
        argv = [str(BIN / "mlflow"), "server", "--backend-store-uri", backend_uri]
        argv += ["--host", "127.0.0.1", "--port", "{port}", "--workers", "1"]
        if artifacts is not None:  # runs without their own artifact location upload through the server
            argv += ["--artifacts-destination", str(artifacts)]
        return start_server(argv, "/health")

    return start


def _chromium() -> tuple[str, str] | None:
    binary = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
    driver = shutil.which("chromedriver")
    return (binary, driver) if binary and driver else None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """A headless Chromium driven by Selenium, with a fresh profile; skips when there is none."""
    found = _chromium()
    if found is None:
        pytest.skip(
            "no Chromium/ChromeDriver on PATH: install Debian's `chromium` and `chromium-driver` "
            "(`.ci/run` does) to run the MLflow UI browser test"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = found[0]
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="revis-chromium-")
    options.add_argument(f"--user-data-dir={profile}")
    driver = webdriver.Chrome(service=Service(found[1]), options=options)
    driver.set_page_load_timeout(180)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="session")
def screenshots(repo_root: Path) -> Path:
    """``reports/ui/`` of the repository (git-ignored; CI keeps it as an artifact)."""
    folder = repo_root / "reports" / "ui"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="session")
def rest() -> Callable[..., Any]:
    """``rest(url, body=None)``: GET (or POST ``body`` as JSON) and decode the JSON answer."""
    return http_json
