"""The csod pipeline: parameter schema, stage tags, and one tiny end-to-end run through KedroSession."""

import json
from pathlib import Path

import mlflow
import pytest
import yaml

from revis.config.schema import ParameterError, validate_params
from revis.dvc_stages import STAGE_KINDS
from revis.pipelines.csod import create_pipeline
from revis.reporting.claims import ClaimsFile

REPO = Path(__file__).resolve().parents[2]


def committed_params() -> dict:
    return yaml.safe_load((REPO / "params.yaml").read_text())


@pytest.mark.parametrize(
    ("path", "value", "named"),
    [
        (("select", "methods"), ["random", "herding"], "'csod.select.methods.1'"),
        (("select", "methods"), ["csod"], "'csod.select'"),
        (("select", "budgets"), [10, 10], "'csod.select'"),
        (("features", "layer"), "fpn_p9", "'csod.features.layer'"),
        (("yolo", "model"), "yolov8n.pt", "'csod.yolo.model'"),
        (("yolo", "imgsz"), 100, "'csod.yolo.imgsz'"),
        (("select", "csod", "reduction"), "median", "'csod.select.csod.reduction'"),
        (("data", "voc_root"), "/data/VOCdevkit", "'csod.data'"),  # world split names are not '<year>/<split>'
    ],
)
def test_bad_csod_values_are_named(path, value, named):
    params = committed_params()
    node = params["csod"]
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises(ParameterError) as info:
        validate_params(params)
    assert named in str(info.value)


def test_paper_scale_overlay_points_at_a_vocdevkit():
    overlay = yaml.safe_load((REPO / "paper_scale" / "csod.yaml").read_text())["csod"]
    assert overlay["data"]["train_splits"] == ["VOC2007/trainval", "VOC2012/trainval"]
    assert overlay["data"]["test_split"] == "VOC2007/test" and 200 in overlay["select"]["budgets"]


def test_every_node_has_one_stage_kind_and_stages_read_their_own_params():
    stages = {}
    for node in create_pipeline().nodes:
        kinds = [t for t in node.tags if t in STAGE_KINDS]
        assert len(kinds) == 1, node.name
        stages.setdefault(kinds[0], set()).update(i for i in node.inputs if i.startswith("params:"))
    assert set(stages) == {"features", "select", "train", "evaluate"}
    assert stages["select"] == {"params:csod.select"}  # a train parameter does not redo selection
    assert "params:csod.select" not in stages["train"] and "params:csod.train" not in stages["features"]


def test_claims_cover_every_metric_and_name_the_published_value():
    claims = ClaimsFile.model_validate(yaml.safe_load((REPO / "claims" / "csod.yaml").read_text()))
    assert any("6.4" in str(c.published) for c in claims.claims)


@pytest.fixture(scope="module")
def ran(project_factory, kedro_run):
    root = project_factory("csod")  # conftest.TINY: 5 YOLO runs of 1 epoch
    store = root.parent / "mlflow.db"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("REVIS_MLFLOW_DB", str(store))
        patch.chdir(root)
        kedro_run(root, "world")
        for stage in ("features", "select", "train", "evaluate"):
            kedro_run(root, "csod", tags=[stage])
        yield root, store


def test_end_to_end_writes_metrics_pictures_and_mlflow_runs(ran):
    root, store = ran
    metrics = json.loads((root / "reports/csod/metrics.json").read_text())
    assert set(metrics["ap50"]) == {"random", "csod", "k_center", "csod_lam0", "csod_lam1"}
    assert set(metrics["ap50"]["random"]) == {"b2", "b3"} and metrics["ap50"]["random"]["b2"]["n"] == 1
    assert set(metrics["gap_csod_minus_random"]) == set(metrics["gap_csod_minus_random_z"]) == {"b2", "b3"}
    assert metrics["schedule"]["steps"] == {"b2": 1, "b3": 2} and 0 <= metrics["csod_wins_over_random"]["b2"] <= 1
    assert "lam0_below_others" in metrics["lambda_sweep"]["b2"]
    assert metrics["coverage"]["csod"]["b2"]["classes_covered"] >= 1 and "scale" in metrics
    assert 0 <= metrics["full_data"]["ap50"] <= 1
    for picture in ("ap50_vs_budget", "lambda_sweep", "selected_images"):
        assert (root / "reports/csod/plots" / f"{picture}.png").stat().st_size > 5_000
    client = mlflow.MlflowClient(f"sqlite:///{store}")
    experiment = client.get_experiment_by_name("csod")
    runs = {r.data.tags["dvc_stage"]: r for r in client.search_runs([experiment.experiment_id])}
    assert set(runs) == {"csod-features", "csod-select", "csod-train", "csod-evaluate"}
    artifacts = {a.path for a in client.list_artifacts(runs["csod-evaluate"].info.run_id, "plots")}
    assert artifacts == {"plots/ap50_vs_budget.png", "plots/lambda_sweep.png", "plots/selected_images.png"}
    assert "ap50.csod.b2.mean" in runs["csod-evaluate"].data.metrics
    assert not (root / "mlruns").exists() and not (root / "runs").exists()  # ultralytics scattered nothing
    assert (root / "data/ultralytics").is_dir()


def test_subsets_and_runs_line_up(ran):
    root, _ = ran
    subsets = json.loads((root / "data/05_model_input/csod/subsets.json").read_text())
    runs = json.loads((root / "data/07_model_output/csod/runs.json").read_text())
    assert [(s["label"], s["budget"], s["seed"]) for s in subsets] == [
        (r["label"], r["budget"], r["seed"]) for r in runs
    ]
    assert all(len(s["image_ids"]) == s["budget"] for s in subsets)
    # csod at lambda 1 is the main csod entry: trained once, reused
    reused = {r["label"] for r in runs if r["reused"]}
    assert "csod_lam1" in reused and reused <= {"csod_lam0", "csod_lam1"}
