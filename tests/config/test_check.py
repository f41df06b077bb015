"""The check-params stage: bad values stop before compute; DataPath contents are fingerprinted."""

import json
import os
import subprocess
import time

import pytest
import yaml

from revis.config.check import EXP_HINT, check_parameters, run_check_stage
from revis.config.fingerprint import fingerprint


def test_a_fingerprint_changes_with_the_contents_and_only_then(tmp_path):
    folder = tmp_path / "VOCdevkit"
    (folder / "VOC2007").mkdir(parents=True)
    (folder / "VOC2007" / "a.xml").write_text("<annotation/>")
    first = fingerprint(str(folder), tmp_path)
    assert first["exists"] and first["files"] == 1
    assert fingerprint(str(folder), tmp_path) == first  # nothing changed: byte-identical stamp
    (folder / "VOC2007" / "b.xml").write_text("<annotation/>")
    second = fingerprint(str(folder), tmp_path)
    assert second["digest"] != first["digest"] and second["files"] == 2
    time.sleep(0.01)
    (folder / "VOC2007" / "a.xml").write_text("<annotation>changed</annotation>")
    assert fingerprint(str(folder), tmp_path)["digest"] != second["digest"]
    (folder / ".cache").write_text("hidden files do not count")
    assert fingerprint("VOCdevkit", tmp_path)["files"] == 2  # relative to the project root
    assert fingerprint(None, tmp_path) == {"path": None}
    assert fingerprint("missing", tmp_path) == {"path": "missing", "exists": False}


def test_the_stage_writes_a_constant_valid_stamp(project):
    assert run_check_stage(project) == 0
    stamp = project / "data/00_params/valid.json"
    assert json.loads(stamp.read_text()) == {"valid": True}


def test_a_bad_value_stops_the_stage_naming_the_key_and_the_way_back(project, capsys):
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["baseline"]["epochs"] = "abc"
    params["baselines"] = {"epochs": 3}
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    assert run_check_stage(project) == 2
    err = capsys.readouterr().err
    assert "'baseline.epochs'" in err and "'baselines': unknown parameter section" in err and EXP_HINT in err
    assert not (project / "data/00_params/valid.json").exists()


@pytest.mark.integration
def test_check_params_validates_local_overrides_too(project, cli_env):
    (project / "conf/local/parameters.yml").write_text("baseline:\n  dropout: 0.5\n")
    check_parameters(project, ("base",))  # what DVC runs is still valid
    result = subprocess.run(
        ["kedro", "check-params"],
        cwd=project,
        capture_output=True,
        text=True,
        env={**cli_env, **os.environ, "PATH": cli_env["PATH"]},
    )
    assert result.returncode == 2 and "'baseline.dropout': unknown parameter" in result.stderr
