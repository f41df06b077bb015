"""The gig pipeline end to end on tiny parameters, plus its nodes' contracts."""

import json

import numpy as np
import pytest
import torch
import yaml

from revis.config.schema import ParameterError, validate_params
from revis.pipelines.gig import nodes


def _make_shapes(root):
    """Only the world's shapes (what gig reads), through the world pipeline's own node."""
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(root)
    with KedroSession.create(project_path=root, env="base") as session:
        session.run(pipeline_names=["world"], node_names=["world.make_shapes"])


@pytest.fixture(scope="module")
def ran_gig(project_factory, kedro_run):
    root = project_factory("gig")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("REVIS_MLFLOW_DB", str(root.parent / "mlflow.db"))
        patch.chdir(root)
        _make_shapes(root)
        kedro_run(root, "gig")  # all three stages; what crosses them goes through the catalog's files
        yield root


def test_pipeline_writes_metrics_and_pictures(ran_gig):
    metrics = json.loads((ran_gig / "reports/gig/metrics.json").read_text())
    assert {"scale", "completeness", "inter_layer", "concept_to_class", "reconstruction", "alignment"} <= set(metrics)
    assert set(metrics["inter_layer"]["block1_to_block2"]) >= {"gig", "random", "magnitude", "gradient"}
    assert set(metrics["concept_to_class"]["block1"]) == {"kmeans", "dictlearn"}
    assert set(metrics["completeness"]["sweep"]["block1_to_class"]) == {"m2", "m8"}
    for layer in ("block1", "block2", "block3"):
        assert 0 <= metrics["reconstruction"][layer]["kmeans"]["error"] <= 1.5
    for picture in ("concept_atlas", "concept_graph", "completeness", "deletion_insertion"):
        assert (ran_gig / f"reports/gig/plots/{picture}.png").stat().st_size > 5_000
    for persisted in (
        "data/02_intermediate/gig/images.npz",
        "data/06_models/gig/model.pt",
        "data/04_feature/gig/pfvs.pt",
        "data/04_feature/gig/concepts.pt",
        "data/07_model_output/gig/pathways.pt",
    ):
        assert (ran_gig / persisted).is_file()


def test_pictures_are_mlflow_artifacts(ran_gig):
    import mlflow

    client = mlflow.MlflowClient(f"sqlite:///{ran_gig.parent / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("gig")
    (run,) = client.search_runs([experiment.experiment_id])
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "plots")}
    assert {"plots/concept_atlas.png", "plots/concept_graph.png"} <= artifacts
    assert "inter_layer.average.gig.ins_minus_del" in run.data.metrics


def test_every_node_has_one_stage_kind():
    from revis.pipelines.gig import create_pipeline

    kinds = {"features", "attribute", "evaluate"}
    for node in create_pipeline().nodes:
        assert len(set(node.tags) & kinds) == 1, node.name


def test_params_fail_with_the_key_named():
    params = yaml.safe_load(open("params.yaml"))
    params["gig"]["data"]["source"] = "imagefolder"  # without a root
    params["gig"]["attribute"]["steps_sweep"] = [8, 4]
    message = str(pytest.raises(ParameterError, validate_params, params).value)
    assert "'gig.data'" in message and "root" in message and "'gig.attribute'" in message


def test_imagefolder_source_splits_per_class(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for name in ("n01", "n02", "n03"):
        (tmp_path / name).mkdir()
        for i in range(4):
            Image.fromarray(rng.integers(0, 255, (40, 30, 3), dtype=np.uint8)).save(tmp_path / name / f"{i}.JPEG")
    data = {
        "source": "imagefolder",
        "root": str(tmp_path),
        "image_size": 16,
        "per_class": 4,
        "test_fraction": 0.5,
        "seed": 0,
        "normalize": None,
    }
    images = nodes.select_images({}, data)
    assert len(images["train"]) == len(images["test"]) == 6
    assert images["test"].images.shape == (6, 16, 16, 3)
    assert np.bincount(images["test"].labels).tolist() == [2, 2, 2]
    train = {
        "model": {"name": "convnet", "width": 4, "depth": 2, "norm": "batchnorm"},
        "epochs": 1,
        "batch_size": 4,
        "lr": 0.01,
        "seed": 0,
    }
    model = nodes.train_model(
        images, train, {**data, "normalize": [[0.485, 0.456, 0.406], [0.229, 0.224, 0.225]]}, "cpu"
    )
    net = nodes._network(model)
    assert net.stages[0][0].mean.flatten().tolist() == pytest.approx([0.485, 0.456, 0.406])
    assert net.model(torch.rand(2, 3, 16, 16)).shape == (2, 3)
