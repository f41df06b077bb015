"""Unreadable parameter files stop with one message (file, line, what is wrong) and status 2, no traceback;
``./run-stage`` refuses a bad value before the stage's session starts (nothing written or deleted)."""

from pathlib import Path

import pytest
import yaml

from revis import stage
from revis.config.check import run_check_stage

FAULTS = {  # what is appended to / replaces params.yaml -> (expected line, words of the message)
    "unclosed bracket": (b"zz_extra:\n  sizes: [1, 2\nzz_more: 3\n", "line", "expected ',' or ']'"),
    "bad indentation": (b"zz_extra:\n  a: 1\n   b: 2\n", "line", "mapping values are not allowed"),
    "duplicate key": (b"baseline:\n  epochs: 1\n", "line", "duplicate key baseline"),
    "unknown interpolation": (b"zz_extra:\n  width: ${nope}\n", "line", "'nope' not found"),
    "non-UTF-8 bytes": (b'zz_extra:\n  name: "caf\xe9"\n', "line", "byte 0xe9 is not UTF-8"),
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_a_config_fault_gives_status_2_and_one_message_naming_file_and_line(project, capsys, fault):
    params = project / "params.yaml"
    original_lines = params.read_bytes().count(b"\n")
    appended, _, words = FAULTS[fault]
    params.write_bytes(params.read_bytes() + appended)
    assert run_check_stage(project) == 2
    err = capsys.readouterr().err
    first = err.splitlines()[0]
    assert str(params) in first and words in first, err
    line = int(first.split(", line ")[1].split(",")[0].split(":")[0])
    assert original_lines < line <= original_lines + appended.count(b"\n")  # the line of the fault itself
    assert "Traceback" not in err and len(err.splitlines()) <= 3  # the message and the way back
    assert not (project / "data/00_params/valid.json").exists()


def test_a_missing_params_file_gives_status_2_and_names_it(project, capsys):
    (project / "params.yaml").unlink()
    assert run_check_stage(project) == 2
    err = capsys.readouterr().err
    assert f"{project / 'params.yaml'}: the project's parameter file is missing" in err and "Traceback" not in err


@pytest.mark.parametrize("fault", ["bad value", "unreadable file"])
def test_run_stage_refuses_before_any_node_runs(project, capsys, monkeypatch, fault):
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["baseline"]["epochs"] = -3
    text = yaml.safe_dump(params) + ("zz: [1\n" if fault == "unreadable file" else "")
    (project / "params.yaml").write_text(text)
    ran: list[str] = []
    monkeypatch.setattr("revis.training.train_classifier", lambda *a, **k: ran.append("trained"))
    monkeypatch.setenv("REVIS_TRACKING", "off")
    before = sorted(p for p in project.rglob("*") if p.is_file())
    assert stage.main(["baseline", "train"]) == 2
    err = capsys.readouterr().err
    words = "'baseline.epochs'" if fault == "bad value" else "YAML error"
    assert words in err and "Traceback" not in err and ran == []
    assert sorted(p for p in project.rglob("*") if p.is_file()) == before  # nothing written or deleted


def test_run_stage_starts_the_session_when_the_values_are_valid(project, monkeypatch):
    started: list[tuple[str, str, Path]] = []
    monkeypatch.setattr(stage, "run", lambda *args: started.append(args))
    assert stage.main(["baseline", "train"]) == 0
    assert started == [("baseline", "train", project)]


def test_a_broken_paper_scale_overlay_gives_status_2_and_names_its_line(tmp_path, capsys):
    from revis.config.overlay import main as overlay_main

    broken = tmp_path / "dsv.yaml"
    broken.write_bytes(b"dsv:\n  teacher:\n    epochs: [3\n")
    params = Path(__file__).resolve().parents[2] / "params.yaml"
    assert overlay_main([str(broken), "--params", str(params)]) == 2
    err = capsys.readouterr().err
    assert f"{broken}, line" in err and "YAML error" in err and "Traceback" not in err
