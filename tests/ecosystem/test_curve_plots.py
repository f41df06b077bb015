"""Curves as DVC plot data: the CurveDataset file format, its declaration in dvc.yaml, baseline's curves."""

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from kedro.io import DatasetError
from kedro.pipeline import node, pipeline

from revis.catalog import CurveDataset
from revis.dvc_stages import build_dvc_yaml, render
from revis.pipelines.baseline.nodes_evaluate import training_curve_tables
from revis.training.histories import mean_curves

REPO = Path(__file__).resolve().parents[2]


def test_mean_curves_average_the_runs_of_each_series_per_epoch():
    histories = {
        "shapes/seed0": {"loss": [2.0, 1.0], "accuracy": [0.2, 0.5]},
        "shapes/seed1": {"loss": [4.0, 3.0], "accuracy": [0.4, 0.7]},
        "digits/seed0": {"loss": [1.0, 0.5, 0.25], "accuracy": [0.1, 0.2, 0.3]},
    }
    assert mean_curves(histories, "loss") == [
        {"epoch": 1, "digits": 1.0, "shapes": 3.0},
        {"epoch": 2, "digits": 0.5, "shapes": 2.0},
        {"epoch": 3, "digits": 0.25, "shapes": None},  # no shapes run reached epoch 3
    ]
    loss, acc = training_curve_tables(histories)
    assert loss == mean_curves(histories, "loss") and acc[1] == {
        "epoch": 2,
        "digits": 0.2,
        "shapes": pytest.approx(0.6),
    }


def test_curve_dataset_writes_the_declared_columns_and_fills_missing_lines_with_null(tmp_path):
    path = tmp_path / "curves" / "loss.json"
    curve = CurveDataset(str(path), x="epoch", y=["shapes", "digits"], title="loss")
    curve.save([{"epoch": 1, "shapes": np.float32(2.5)}, {"epoch": 2, "shapes": float("nan")}])
    rows = json.loads(path.read_text())
    assert rows == [{"epoch": 1, "shapes": 2.5, "digits": None}, {"epoch": 2, "shapes": None, "digits": None}]
    assert curve.load() == rows
    curve.save(pd.DataFrame({"epoch": [1, 2], "digits": [0.5, 0.25]}))  # a DataFrame works too
    assert [r["digits"] for r in curve.load()] == [0.5, 0.25]
    assert not list(path.parent.glob(".*tmp-*"))  # atomic write, no temporaries left
    assert curve.plot_definition() == {"x": "epoch", "y": ["shapes", "digits"], "title": "loss", "template": "linear"}


def test_curve_dataset_refuses_columns_dvc_would_never_draw(tmp_path):
    curve = CurveDataset(str(tmp_path / "c.json"), x="epoch", y="loss")
    with pytest.raises(DatasetError, match=r"\['lr'\] are not declared"):
        curve.save([{"epoch": 1, "loss": 1.0, "lr": 0.1}])
    with pytest.raises(DatasetError, match="no x column 'epoch'"):
        curve.save([{"step": 1, "loss": 1.0}])
    assert not (tmp_path / "c.json").exists()
    with pytest.raises(ValueError, match=re.escape("cannot contain '.'")):
        CurveDataset(str(tmp_path / "c.json"), x="epoch", y="shapes.loss")  # Vega-Lite would read a nested field
    with pytest.raises(ValueError, match="distinct columns"):
        CurveDataset(str(tmp_path / "c.json"), x="epoch", y=["epoch"])


def _make_curve(x):
    return x


def test_the_generator_declares_curves_in_top_level_plots_with_their_axes():
    catalog = {
        "a": {"type": "revis.catalog.JsonDataset", "filepath": "data/a.json"},
        "curve": {
            "type": "revis.catalog.CurveDataset",
            "filepath": "reports/p/curves/loss.json",
            "x": "step",
            "y": ["train", "test"],
            "title": "loss",
            "y_label": "cross-entropy",
        },
        "picture": {"type": "revis.catalog.FigureDataset", "filepath": "reports/p/plots/loss.png"},
    }
    pipes = {
        "p": pipeline(
            [
                node(_make_curve, "a", "curve", name="curve", tags=["evaluate"]),
                node(_make_curve, "a", "picture", name="picture", tags=["evaluate"]),
            ]
        )
    }
    document = build_dvc_yaml(pipes, catalog.__getitem__, REPO)
    stage = document["stages"]["p-evaluate"]
    assert {"reports/p/curves/loss.json": {"cache": False}} in stage["outs"]  # git-tracked, like metrics
    assert stage["plots"] == ["reports/p/plots/loss.png"]  # images stay image plots (cached)
    assert document["plots"] == [
        {
            "reports/p/curves/loss.json": {
                "x": "step",
                "y": ["train", "test"],
                "title": "loss",
                "y_label": "cross-entropy",
                "template": "linear",
            }
        }
    ]
    assert list(yaml.safe_load(render(document))) == ["stages", "plots"]
    bad = {**catalog, "curve": {**catalog["curve"], "y": ["train.loss"]}}
    with pytest.raises(ValueError, match="cannot contain"):
        build_dvc_yaml(pipes, bad.__getitem__, REPO)


def test_baseline_declares_its_training_curves_with_the_datasets_as_lines():
    catalog = yaml.safe_load((REPO / "conf/base/catalog/baseline.yml").read_text())
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    from revis.pipelines.baseline.params import Params

    datasets = list(Params.model_fields["datasets"].annotation.__args__[0].__args__)  # Literal["shapes", "digits"]
    for name in ("baseline.curve_train_loss", "baseline.curve_train_accuracy"):
        entry = catalog[name]
        assert entry["type"] == "revis.catalog.CurveDataset" and entry["x"] == "epoch"
        assert sorted(entry["y"]) == sorted(datasets)  # every dataset baseline can train is a line
    assert set(params["baseline"]["datasets"]) <= set(datasets)
