"""dsv and dkkt: node units, the DVC stage layout, and one tiny end-to-end run of both pipelines."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from revis.config.schema import ParameterError, validate_params
from revis.datasets.cifar import write_cifar10
from revis.datasets.imageset import DataError, ImageSet
from revis.datasets.named import named_splits
from revis.dvc_stages import project_document
from revis.pipelines.dkkt.nodes import _ordered, fraction_key, fraction_value, partial_indices
from revis.pipelines.dsv.nodes import teacher_network, train_teacher
from revis.reporting.claims import ClaimsFile, claim_paths, lookup
from revis.reporting.summary import flat_numbers

REPO = Path(__file__).resolve().parents[2]
RECIPE = yaml.safe_load((REPO / "tests/tiny/dsv.yaml").read_text())["dsv"]["teacher"]


def _tiny_set(n=20, classes=4, seed=0) -> ImageSet:
    rng = np.random.default_rng(seed)
    return ImageSet(
        rng.integers(0, 255, (n, 8, 8, 3), dtype=np.uint8), np.arange(n) % classes, [f"c{i}" for i in range(classes)]
    )


def test_cifar10_is_read_from_a_local_folder_in_the_official_format(tmp_path):
    write_cifar10(tmp_path / "cifar-10-batches-py", _tiny_set(), _tiny_set(8, seed=1), batch_size=7)
    train, test = named_splits("cifar10", {}, str(tmp_path / "cifar-10-batches-py"))
    assert (len(train), len(test), train.num_classes, train.image_size) == (20, 8, 4, 8)
    with pytest.raises(DataError, match="cifar10_root"):
        named_splits("cifar10", {}, None)
    with pytest.raises(DataError, match="batches.meta"):
        named_splits("cifar10", {}, str(tmp_path / "nowhere"))


def test_cifar10_choice_needs_a_folder_and_dkkt_names_are_checked():
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["dsv"]["data"]["datasets"] = ["digits", "cifar10"]
    params["dkkt"]["datasets"] = ["mnist"]
    params["dsv"]["select"]["sizes"] = [0]
    message = str(pytest.raises(ParameterError, validate_params, params).value)
    assert "'dsv.data'" in message and "cifar10_root" in message
    assert "'dkkt.datasets.0'" in message and "'dsv.select.sizes.0'" in message


def test_teacher_checkpoint_round_trip_and_missing_dataset():
    digits = {"train": _tiny_set(classes=3), "test": _tiny_set(6, classes=3)}
    checkpoint = train_teacher(
        {}, digits, {"datasets": ["digits"]}, {"device": "cpu", "threads": 1}, {**RECIPE, "seed": 0}
    )
    net = teacher_network(checkpoint, "digits")
    assert not net.training and not any(p.requires_grad for p in net.parameters())
    assert net(torch.zeros(2, 3, 8, 8)).shape == (2, 3)
    with pytest.raises(KeyError, match="shapes"):
        teacher_network(checkpoint, "shapes")


def test_partial_data_is_stratified_with_one_image_per_class_at_least():
    y = torch.arange(200) % 4
    index = partial_indices(y, 0.01, seed=0)
    assert torch.bincount(y[index]).tolist() == [1, 1, 1, 1]
    assert torch.bincount(y[partial_indices(y, 0.1, seed=0)]).tolist() == [5, 5, 5, 5]
    assert fraction_key(0.05) == "5pct" and fraction_key(0.005) == "0_5pct" and fraction_value("0_5pct") == 0.005
    assert _ordered(["10pct/1", "1pct/5", "5pct/1", "1pct/1"]) == ["1pct/1", "1pct/5", "5pct/1", "10pct/1"]


def test_stages_follow_the_papers_and_retraining_never_touches_the_teacher():
    stages = project_document(REPO)["stages"]
    assert {f"dsv-{k}" for k in ("features", "select", "distill", "train", "evaluate")} <= set(stages)
    assert {f"dkkt-{k}" for k in ("distill", "train", "evaluate")} <= set(stages)
    assert "dsv.retrain" not in stages["dsv-features"]["params"] and "dsv.retrain" in stages["dsv-train"]["params"]
    assert "data/06_models/dsv/teacher.pt" in stages["dsv-select"]["deps"]
    assert "data/05_model_input/dsv/subsets.json" in stages["dsv-train"]["deps"]
    assert "data/06_models/dsv/teacher.pt" in stages["dkkt-distill"]["deps"]  # θ* trained on the full data
    assert "dkkt.train" not in stages["dkkt-distill"]["params"] and "dsv.data" in stages["dkkt-distill"]["params"]


@pytest.fixture(scope="module")
def ran(project_factory, kedro_run):
    root = project_factory("dsv")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("REVIS_MLFLOW_DB", str(root.parent / "mlflow.db"))
        patch.chdir(root)
        for pipeline in ("world", "dsv", "dkkt"):
            kedro_run(root, pipeline)
        yield root


def test_dsv_end_to_end_metrics_and_pictures(ran):
    metrics = json.loads((ran / "reports/dsv/metrics.json").read_text())
    assert {"digits", "shapes", "scale"} <= set(metrics)
    digits = metrics["digits"]
    assert set(digits["retrain"]["top_lambda"]) == {"1", "5", "10"} and digits["retrain"]["random"]["5"]["n"] == 2
    assert digits["retrain"]["top_lambda"]["10"]["images"] == 100 and digits["dsv"]["zero_shot"]["10"]["n"] == 2
    assert set(digits["dsv"]) == {"zero_shot", "few_shot", "zero_shot_primal", "few_shot_primal", "dm"}
    assert set(digits["entropy"]["zero_shot"]["1"]) == {"start", "end"}
    assert len(digits["lambda"]["per_class_sum"]) == 10 and digits["chance"] == 0.1
    for picture in ("dsv_grids", "entropy", "lambda", "retrain"):
        assert (ran / f"reports/dsv/plots/{picture}.png").stat().st_size > 5_000


def test_dkkt_end_to_end_skips_sets_larger_than_the_visible_data(ran):
    metrics = json.loads((ran / "reports/dkkt/metrics.json").read_text())
    digits = metrics["digits"]
    assert set(digits["methods"]) == {"random", "dm", "dm_dkkt", "dsv", "dm_union_dsv"}
    assert set(digits["methods"]["dm"]) == {"1pct", "5pct", "10pct"} and set(digits["methods"]["dm"]["1pct"]) == {"1"}
    assert set(digits["methods"]["dm"]["10pct"]) == {"1", "5"}  # 200/class is more than the visible data hold
    assert digits["methods"]["dm_union_dsv"]["5pct"]["5"]["images"] == 100 and digits["visible_images"]["1pct"] == 10
    assert digits["sweep"]["at"] == "1pct/1" and "0_5" in digits["sweep"]
    assert set(metrics["shapes"]["methods"]["dm"]["1pct"]) == {"1"}  # 20 shapes per class: 1 % is one image
    assert (ran / "reports/dkkt/plots/distilled_grids.png").stat().st_size > 5_000


@pytest.mark.parametrize("paper", ["dsv", "dkkt"])
def test_every_claim_evaluates_and_every_metric_has_a_regression_rule(ran, paper):
    metrics = json.loads((ran / f"reports/{paper}/metrics.json").read_text())
    claims = ClaimsFile.model_validate(yaml.safe_load((REPO / "claims" / f"{paper}.yaml").read_text()))
    for claim in claims.claims:  # tiny runs have every metric the real run has
        for path in claim_paths(claim):
            lookup(metrics, path)
    assert [m for m in flat_numbers(metrics) if claims.rule_for(m) is None] == []
