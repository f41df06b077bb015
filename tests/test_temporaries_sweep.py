"""Temporaries of killed writers are removed at the next stage or repro, not only by the next write to the
same target; a live writer's temporary stays."""

import os
import subprocess
import sys

from revis.atomic import sweep_stale_temporaries
from revis.config.check import run_check_stage
from revis.dvc_stages import dvc_outputs


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_the_sweep_removes_dead_writers_temporaries_next_to_outputs_only(tmp_path):
    (tmp_path / "dvc.yaml").write_text(
        "stages:\n  train:\n    cmd: x\n    outs:\n    - data/models/net.pt\n    - reports/train:\n        cache: false\n"
    )
    models, reports, elsewhere = tmp_path / "data/models", tmp_path / "reports", tmp_path / "notes"
    for folder in (models, reports, elsewhere):
        folder.mkdir(parents=True)
    dead = _dead_pid()
    stale_file = models / f".net.pt.tmp-{dead}"
    stale_file.write_bytes(b"half")
    stale_dir = reports / f".train.tmp-old-{dead}"
    stale_dir.mkdir()
    (stale_dir / "metrics.json").write_text("{}")
    live = models / f".net.pt.tmp-{os.getpid()}"
    live.write_bytes(b"being written")
    not_ours = elsewhere / f".x.tmp-{dead}"  # no DVC output lives there
    not_ours.write_bytes(b"?")
    assert dvc_outputs(tmp_path / "dvc.yaml") == ["data/models/net.pt", "reports/train"]
    removed = sweep_stale_temporaries(tmp_path, dvc_outputs(tmp_path / "dvc.yaml"))
    assert sorted(removed) == sorted([stale_file, stale_dir])
    assert live.exists() and not_ours.exists() and not stale_file.exists() and not stale_dir.exists()


def test_the_check_params_stage_sweeps(project, capsys):
    outputs = dvc_outputs(project / "dvc.yaml")
    assert outputs
    folder = (project / outputs[-1]).parent
    folder.mkdir(parents=True, exist_ok=True)
    stale = folder / f".{(project / outputs[-1]).name}.tmp-{_dead_pid()}"
    stale.write_bytes(b"half")
    assert run_check_stage(project) == 0
    assert not stale.exists() and "removed 1 temporaries left by killed writers" in capsys.readouterr().err
