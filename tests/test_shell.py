"""The documented commands work as written: a checkout path with spaces, a fresh shell, no telemetry."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
VENV = Path(sys.executable).parent.parent


def test_make_targets_work_under_a_path_with_spaces(project_factory):
    root = project_factory("with space")
    spaced = root.parent / "my projects" / "revis copy"
    spaced.parent.mkdir()
    shutil.move(str(root), spaced)
    shutil.copy2(Path(__file__).parents[1] / "Makefile", spaced / "Makefile")
    (spaced / "constraints.txt").write_text("")
    (spaced / ".venv").symlink_to(VENV)
    stamp = spaced / ".venv" / ".installed"
    os.utime(stamp if stamp.exists() else VENV / "bin" / "python")  # installed: make must not reinstall
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    help_ = subprocess.run(["make", "help"], cwd=spaced, capture_output=True, text=True, env=env)
    assert help_.returncode == 0 and "repro" in help_.stdout and "check-params" in help_.stdout
    check = subprocess.run(
        ["make", "-o", ".venv/.installed", "check-params"], cwd=spaced, capture_output=True, text=True, env=env
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert "parameters are valid" in check.stdout + check.stderr


def test_kedro_outside_a_project_sends_nothing_and_writes_no_config(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    env = {"HOME": str(home), "PATH": "/usr/bin:/bin"}  # a fresh shell: no telemetry variables set
    result = subprocess.run(
        [str(VENV / "bin" / "kedro"), "info"], cwd=tmp_path, capture_output=True, text=True, env=env
    )
    assert result.returncode == 0, result.stderr
    assert "telemetry" not in (result.stdout + result.stderr).lower()
    assert not list(home.rglob("*")), "kedro wrote configuration into the user's home"
