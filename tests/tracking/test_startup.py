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
    seconds, cpu = (float(x) for x in out.splitlines()[1].split()[1:3])
    assert 0 < seconds < 120 and 0 < cpu < 120 and "report" in out
    assert (scoreboard.stat().st_mtime_ns if scoreboard.exists() else None) == before


@pytest.mark.integration
def test_before_inputs_the_probe_needs_no_data(capsys, monkeypatch, project):
    # a fresh copy has no data/: the first node's inputs are missing, the probe stops before they are loaded
    assert not (project / "data" / "01_raw").exists()
    assert main(["--stages", "t2i-ingest", "--repeat", "1", "--before-inputs"]) == 0
    seconds, cpu = (float(x) for x in capsys.readouterr().out.splitlines()[1].split()[1:3])
    assert 0 < seconds < 120 and 0 < cpu < 120


def test_catalog_files_and_readers_import_no_plotting_tables_or_torch():
    # a stage that reads JSON or a VOC folder does not pay for matplotlib, pandas or torch at start-up
    code = (
        "import sys, revis.catalog.files, revis.datasets.voc, revis.datasets.webdataset; "
        "print(sorted(m for m in ('torch', 'matplotlib', 'pandas') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert done.stdout.strip() == "[]"


def test_a_session_reads_params_yaml_once_and_hands_out_copies(tmp_path, monkeypatch):
    from revis.config import loader as module

    (tmp_path / "conf" / "base").mkdir(parents=True)
    (tmp_path / "params.yaml").write_text("runtime: {executor: local}\n")
    reads = []
    real = module.load_yaml_file
    monkeypatch.setattr(module, "load_yaml_file", lambda path: reads.append(path) or real(path))
    config = module.RevisConfigLoader(conf_source=str(tmp_path / "conf"), env="base", base_env="base")
    first = config["parameters"]
    first["runtime"]["executor"] = "changed by a caller"
    assert config["parameters"] == {"runtime": {"executor": "local"}} and len(reads) == 1


def test_unknown_stages_are_refused(capsys):
    with pytest.raises(SystemExit):
        main(["--stages", "no-such-stage"])
    assert "unknown stages: no-such-stage" in capsys.readouterr().err
