from pathlib import Path

import pytest
import yaml

from revis.config.overlay import main, merge, set_param_args
from revis.config.schema import validate_params

REPO = Path(__file__).resolve().parents[2]
OVERLAYS = sorted((REPO / "paper_scale").glob("*.yaml"))


def test_set_param_args_flatten_to_dvc_syntax():
    assert set_param_args({"a": {"b": 2, "c": [1, 2], "d": "x"}}) == ["-S", "a.b=2", "-S", "a.c=[1, 2]", "-S", "a.d=x"]


@pytest.mark.parametrize("overlay", OVERLAYS, ids=[p.stem for p in OVERLAYS])
def test_every_paper_scale_overlay_validates(overlay: Path, monkeypatch):
    monkeypatch.setattr("revis.config.types.cuda_available", lambda: True)  # overlays are for GPU machines
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    validate_params(merge(params, yaml.safe_load(overlay.read_text())), source=overlay.name)


def test_a_bad_overlay_is_refused(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("baseline:\n  epochs: -3\n")
    assert main([str(bad), "--params", str(REPO / "params.yaml")]) == 2
    assert "'baseline.epochs'" in capsys.readouterr().err
