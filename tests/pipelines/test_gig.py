"""The ``gig`` pipeline: its wiring in memory on tiny inputs (fast), one KedroSession run (integration)."""

import json

import numpy as np
import pytest
import torch
import yaml

from revis.config.schema import ParameterError, validate_params
from revis.reporting.claims import ClaimsFile, claim_paths, lookup
from revis.world.shapes import generate_shapes, world_rules

PICTURES = ("concept_atlas", "concept_graph", "completeness", "deletion_insertion")


@pytest.fixture(scope="module")
def tiny_shapes():
    return {"train": generate_shapes(40, seed=1), "test": generate_shapes(16, seed=2), "rules": world_rules()}


def _merged(base: dict, override: dict) -> dict:
    out = dict(base)
    for key, value in override.items():
        out[key] = _merged(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict) else value
    return out


@pytest.fixture(scope="module")
def wired(run_in_memory, repo_root, tiny_params, tiny_shapes):
    from kedro.io import MemoryDataset

    torch.set_num_threads(1)
    params = _merged(yaml.safe_load((repo_root / "params.yaml").read_text())["gig"], tiny_params["gig"])
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(MemoryDataset, "_release", lambda self: None)  # keep what crosses stages, to inspect it
        return run_in_memory("gig", inputs={"world.shapes": tiny_shapes}, params={"gig": params})


def test_every_seed_runs_the_whole_chain(wired, tiny_params):
    seeds = tiny_params["gig"]["train"]["seeds"]
    assert [m["seed"] for m in wired["gig.models"]] == seeds
    assert [c["seed"] for c in wired["gig.concepts"]] == seeds
    # the seed varies the network, the PFV draw, the concepts and the attributed test images
    first, second = wired["gig.models"], wired["gig.pfvs"]
    assert not torch.equal(first[0]["state_dict"]["features.0.weight"], first[1]["state_dict"]["features.0.weight"])
    assert not torch.equal(second[0]["samples"]["block1"]["origin"], second[1]["samples"]["block1"]["origin"])
    k = wired["gig.concepts"][0]["bases"]["block1"]
    assert set(k) == {"kmeans", "dictlearn", "random"}
    assert len(k["kmeans"]["vectors"]) == 8  # ratio 2 x 4 channels
    a, b = (p["index"] for p in wired["gig.pathways"])
    assert len(a) == 6 and not torch.equal(a, b)


def test_metrics_are_samples_over_seeds_and_every_claim_finds_its_metrics(wired, repo_root):
    metrics = wired["gig.metrics"]
    accuracy = metrics["model"]["test_accuracy"]
    assert accuracy["n"] == 2 and accuracy["seeds"] == [0, 1] and len(accuracy["values"]) == 2
    assert set(metrics["inter_layer"]["average"]) == {"gig", "random", "magnitude", "gradient", "gradient_x_input"}
    assert set(metrics["concept_to_class"]["average"]) == {"kmeans", "dictlearn"}
    assert set(metrics["reconstruction"]["average"]) == {"kmeans", "dictlearn", "random"}
    assert metrics["model"]["concepts_per_layer"] == {"block1": 8, "block2": 8, "block3": 8}
    claims = ClaimsFile.model_validate(yaml.safe_load((repo_root / "claims/gig.yaml").read_text()))
    for claim in claims.claims:
        for path in claim_paths(claim):
            lookup(metrics, path)
    json.dumps(metrics)  # the metrics file is plain JSON


def test_pictures_are_figures(wired):
    for picture in PICTURES:
        assert wired[f"gig.plot_{picture}"].get_axes()


def test_what_crosses_a_stage_loads_with_weights_only(wired, tmp_path):
    from revis.catalog import TorchDataset

    for name in ("models", "pfvs", "concepts", "pathways", "evaluation"):
        dataset = TorchDataset(str(tmp_path / f"{name}.pt"))
        dataset.save(wired[f"gig.{name}"])
        dataset.load()


def test_params_fail_with_the_key_named(repo_root):
    params = yaml.safe_load((repo_root / "params.yaml").read_text())
    params["gig"]["data"]["source"] = "imagefolder"  # without a root
    params["gig"]["attribute"]["steps_sweep"] = [8, 4]
    params["gig"]["train"]["seeds"] = [0, 0]
    message = str(pytest.raises(ParameterError, validate_params, params).value)
    assert "'gig.data'" in message and "root" in message and "'gig.attribute'" in message
    assert "'gig.train'" in message and "distinct" in message


def test_the_paper_ratio_is_the_default(repo_root):
    params = yaml.safe_load((repo_root / "params.yaml").read_text())["gig"]
    assert params["concepts"]["ratio"] == 8.0 and len(params["train"]["seeds"]) >= 3


def test_imagefolder_source_splits_per_class(tmp_path):
    from PIL import Image

    from revis.attribution.layered import network_from_checkpoint
    from revis.attribution.study import train_network
    from revis.pipelines.gig.nodes_features import select_images
    from revis.pipelines.gig.params import Data

    rng = np.random.default_rng(0)
    for name in ("n01", "n02", "n03"):
        (tmp_path / name).mkdir()
        for i in range(4):
            Image.fromarray(rng.integers(0, 255, (40, 30, 3), dtype=np.uint8)).save(tmp_path / name / f"{i}.JPEG")
    data = Data(source="imagefolder", root=str(tmp_path), image_size=16, per_class=4, test_fraction=0.5)
    images = select_images({}, data)
    assert len(images["train"]) == len(images["test"]) == 6
    assert images["test"].images.shape == (6, 16, 16, 3)
    assert np.bincount(images["test"].labels).tolist() == [2, 2, 2]
    normalize = [[0.485, 0.456, 0.406], [0.229, 0.224, 0.225]]
    model = {"name": "convnet", "width": 4, "depth": 2, "norm": "batchnorm"}
    checkpoint = train_network(images, model, 1, 4, 0.01, 0, normalize, "imagefolder")
    net = network_from_checkpoint(checkpoint)
    assert net.stages[0][0].mean.flatten().tolist() == pytest.approx([0.485, 0.456, 0.406])
    assert net.model(torch.rand(2, 3, 16, 16)).shape == (2, 3)


@pytest.mark.integration
def test_session_run_persists_every_stage_and_logs_pictures(project_factory, kedro_run):
    root = project_factory("gig")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("REVIS_MLFLOW_DB", str(root.parent / "mlflow.db"))
        patch.chdir(root)
        kedro_run(root, "world", node_names=["world.make_shapes"])
        for stage in ("features", "attribute", "evaluate"):  # one stage at a time: what crosses them is persisted
            kedro_run(root, "gig", [stage])
    metrics = json.loads((root / "reports/gig/metrics.json").read_text())
    assert metrics["model"]["test_accuracy"]["n"] == 2 and "alignment" in metrics
    for picture in PICTURES:
        assert (root / f"reports/gig/plots/{picture}.png").stat().st_size > 5_000
    import mlflow

    client = mlflow.MlflowClient(f"sqlite:///{root.parent / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("gig")
    runs = client.search_runs([experiment.experiment_id], "tags.dvc_stage = 'gig-evaluate'")
    artifacts = {a.path for a in client.list_artifacts(runs[0].info.run_id, "plots")}
    assert {"plots/concept_atlas.png", "plots/concept_graph.png"} <= artifacts
