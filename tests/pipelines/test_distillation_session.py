"""dsv and dkkt through a KedroSession in a tiny project copy, and the evaluation protocol on real digits."""

import json

import pytest
import torch
import yaml

from revis.datasets.digits import sklearn_digits
from revis.distill import EvalProtocol, score, train_on_set
from revis.distill.data import DataParams, load_splits
from revis.kkt import random_per_class

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def ran(project_factory, kedro_run):
    root = project_factory("distillation")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("REVIS_MLFLOW_DB", str(root.parent / "mlflow.db"))
        patch.chdir(root)
        for pipeline in ("world", "dsv", "dkkt"):
            kedro_run(root, pipeline)
        yield root


def test_dsv_session_writes_metrics_and_pictures(ran):
    metrics = json.loads((ran / "reports/dsv/metrics.json").read_text())
    assert metrics["digits"]["retrain"]["top_lambda"]["1"]["seeds"] == [0, 1]  # the tiny whole-chain seeds
    assert metrics["shapes"]["retrain"]["random"]["1"]["seeds"] == [0]
    assert "whole-chain seeds: digits 2, shapes 1" in metrics["scale"]
    for picture in ("dsv_grids", "synthesis_curves", "lambda", "retrain"):
        assert (ran / f"reports/dsv/plots/{picture}.png").stat().st_size > 5_000


def test_dkkt_session_writes_metrics_and_the_dm_loss_curve(ran):
    metrics = json.loads((ran / "reports/dkkt/metrics.json").read_text())
    assert metrics["digits"]["methods"]["dm"]["2pct"]["1"]["seeds"] == [0, 1]
    assert metrics["shapes"]["methods"] == {} and metrics["shapes"]["guard"]["runs"] == 0  # 1 %: one image per class
    assert "whole-chain seeds: digits 2, shapes 1" in metrics["scale"]
    for picture in ("distilled_grids", "accuracy", "dm_loss"):
        assert (ran / f"reports/dkkt/plots/{picture}.png").stat().st_size > 5_000


def test_random_real_ten_per_class_digits_score_90_percent_under_the_protocol(repo_root):
    """The protocol of params.yaml (dsv.evaluation) trains good networks: the reference scores 96 % here."""
    torch.set_num_threads(1)
    params = yaml.safe_load((repo_root / "params.yaml").read_text())["dsv"]
    protocol = EvalProtocol.model_validate(params["evaluation"])
    splits = load_splits("digits", {}, sklearn_digits(0.3, 0), DataParams())
    accuracies = []
    for seed in (0, 1, 2):
        index = random_per_class(splits.y_train, 10, seed)
        net = train_on_set(splits.x_train[index], splits.y_train[index], splits.shape, protocol, seed)
        accuracies.append(score(net, splits.x_test, splits.y_test))
    assert sum(accuracies) / 3 >= 0.90, accuracies
