"""The start-up benchmark and what keeps start-up cheap (issue: cheap stages)."""

import subprocess
import sys
from pathlib import Path

import pytest

from revis.tracking.startup import main, stage_commands

ROOT = Path(__file__).resolve().parents[2]


def test_every_pipeline_stage_of_dvc_yaml_is_benchmarked():
    commands = stage_commands(ROOT / "dvc.yaml")
    assert "check-params" not in commands
    assert commands["scoreboard-report"] == ["./run-stage", "scoreboard", "report"]
    assert all(argv[0] == "./run-stage" and len(argv) == 3 for argv in commands.values())


def test_validating_params_yaml_imports_neither_torch_nor_the_heavy_libraries():
    # every stage validates params.yaml at start-up; the schemas must stay torch-free (lazy package imports)
    code = (
        "import sys; from revis.config.schema import section_models; section_models(); "
        "print(sorted(m for m in ('torch', 'scipy', 'pandas', 'diffusers', 'transformers') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert done.stdout.strip() == "[]"


@pytest.mark.integration
def test_the_probe_stops_a_stage_at_its_first_node_without_writing(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    scoreboard = ROOT / "reports" / "SCOREBOARD.md"
    before = scoreboard.stat().st_mtime_ns if scoreboard.exists() else None
    assert main(["--stages", "scoreboard-report", "--repeat", "1"]) == 0
    out = capsys.readouterr().out
    seconds = float(out.splitlines()[1].split()[1])
    assert 0 < seconds < 120 and "report" in out
    assert (scoreboard.stat().st_mtime_ns if scoreboard.exists() else None) == before


def test_unknown_stages_are_refused(capsys):
    with pytest.raises(SystemExit):
        main(["--stages", "no-such-stage"])
    assert "unknown stages: no-such-stage" in capsys.readouterr().err
