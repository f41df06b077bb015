"""The ``gig`` pipeline: its wiring in memory on tiny inputs (fast), one KedroSession run (integration)."""

import json

import numpy as np
import pytest
import torch
import yaml

from revis.attribution.metrics import AlignedGigMetrics, finite_mean, relative_gap, sample
from revis.config.schema import ParameterError, validate_params
from revis.reporting.claims import ClaimsFile, claim_paths, lookup
from revis.reporting.results import to_json
from revis.world.shapes import generate_shapes, world_rules

PICTURES = ("concept_atlas", "concept_graph", "completeness", "deletion_insertion")  # reports/gig/plots/*.png


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
    seeds = tiny_params["gig"]["seeds"]
    assert [m["seed"] for m in wired["gig.models"]] == seeds
    assert [c["seed"] for c in wired["gig.concepts"]] == seeds
    # the seed varies the network, the PFV draw, the concepts and the attributed test images
    first, second = wired["gig.models"], wired["gig.pfvs"]
    assert not torch.equal(first[0]["state_dict"]["features.0.weight"], first[1]["state_dict"]["features.0.weight"])
    assert not torch.equal(second[0]["samples"]["block1"]["origin"], second[1]["samples"]["block1"]["origin"])
    k = wired["gig.concepts"][0]["bases"]["block1"]
    assert set(k) == {"kmeans", "dictlearn", "sae", "random"}
    assert len(k["kmeans"]["vectors"]) == 8  # ratio 2 x 4 channels
    a, b = (p["index"] for p in wired["gig.pathways"])
    assert len(a) == 6 and not torch.equal(a, b)


def test_metrics_are_samples_over_seeds_and_every_claim_finds_its_metrics(wired, repo_root):
    result = wired["gig.metrics"]
    assert isinstance(result, AlignedGigMetrics)  # the shapes world has concept masks
    metrics = to_json(result)
    accuracy = metrics["model"]["test_accuracy"]
    assert accuracy["n"] == 2 and accuracy["seeds"] == [0, 1] and len(accuracy["values"]) == 2
    assert all(0 <= v <= 1 for v in accuracy["values"])
    assert metrics["model"]["concepts_per_layer"] == {"block1": 8, "block2": 8, "block3": 8}
    # every ordering of the inter-layer measures and every decomposition is summarized, paired by seed
    average = metrics["inter_layer"]["average"]
    assert set(average) == {"gig", "random", "magnitude", "gradient", "gradient_x_input"}
    for measures in average.values():
        for s in measures.values():
            assert s["n"] == len(s["values"]) == len(s["seeds"]) <= 2
    assert set(metrics["concept_to_class"]["average"]) == {"kmeans", "dictlearn", "sae"}
    errors = metrics["reconstruction"]["average"]
    assert set(errors) == {"kmeans", "dictlearn", "sae", "random"}
    assert all(v >= 0 for s in errors.values() for v in s["values"])
    for layer in ("block1", "block2", "block3"):
        for kind in ("kmeans", "random"):
            for measure in ("mean_iou", "mean_pointing"):
                assert all(0 <= v <= 1 for v in metrics["alignment"][layer][kind][measure]["values"])
    assert metrics["inter_layer"]["targets_measured"]["block1_to_block2"] > 0
    rules = metrics["pathway_rules"]  # the world states its rules: every block's class pathways are scored
    assert rules["chance"] == pytest.approx(2 / 7)
    for layer in ("block1", "block2", "block3", "average"):
        assert set(rules[layer]) == {"gig", "random", "direct"}
        assert all(0 <= v <= 1 for s in rules[layer].values() for v in s["values"])
    assert rules["block3"]["gig"]["values"] == rules["block3"]["direct"]["values"]  # the last block: no links yet
    claims = ClaimsFile.model_validate(yaml.safe_load((repo_root / "claims/gig.yaml").read_text()))
    for claim in claims.claims:
        for path in claim_paths(claim):
            lookup(metrics, path)
    json.dumps(metrics)  # the metrics file is plain JSON


def test_completeness_gaps_are_read_from_the_pathways(wired):
    metrics = to_json(wired["gig.metrics"])
    pathways = wired["gig.pathways"]
    gaps = [relative_gap(p["pairs"]["block1_to_block2"]) for p in pathways]
    assert metrics["completeness"]["at_default_steps"]["block1_to_block2"]["values"] == pytest.approx(gaps)
    assert all(g >= 0 for g in gaps)
    assert set(metrics["completeness"]["sweep_average"]) == {"m2", "m32"}


def test_samples_leave_out_seeds_without_a_finite_value():
    assert sample({2: 1.0, 0: 3.0, 1: None, 5: float("nan")}) == {
        "mean": 2.0,
        "std": pytest.approx(2**0.5),
        "n": 2,
        "values": [3.0, 1.0],
        "seeds": [0, 2],
    }
    assert sample({0: None}) == {"mean": None, "std": None, "n": 0, "values": [], "seeds": []}
    assert finite_mean([1.0, None, float("inf"), 3.0]) == 2.0 and finite_mean([None]) is None


def test_relative_gap_is_mean_abs_delta_over_mean_abs_change():
    result = {
        "gig": torch.zeros(2, 1, 3),
        "delta": torch.tensor([[1.0], [-3.0]]),
        "full": torch.tensor([[4.0], [2.0]]),
        "zero": torch.tensor([[0.0], [-2.0]]),
    }
    assert relative_gap(result) == pytest.approx(2.0 / 4.0)


def test_pictures_show_the_first_seed_per_layer_and_path(wired):
    atlas = wired["gig.plot_concept_atlas"]
    assert [panel.get_suptitle() for panel in atlas.subfigs] == ["block1", "block2", "block3"]
    assert "seed 0" in atlas.get_suptitle()
    graph_axes = wired["gig.plot_concept_graph"].get_axes()
    assert [t.get_text() for t in graph_axes[0].get_xticklabels()] == ["block1", "block2", "block3", "classes"]
    completeness = wired["gig.plot_completeness"].get_axes()[0]
    paths = wired["gig.pathways"][0]["sweep"]
    assert len(completeness.get_lines()) == len(paths) == 5  # two layer pairs, three layers to the class
    assert [t.get_text() for t in completeness.get_xticklabels()] == ["2", "32"]
    curves = wired["gig.plot_deletion_insertion"].get_axes()
    assert len(curves) == 2 * 2  # deletion and insertion per layer pair
    inter = wired["gig.evaluation"][0]["inter_layer"]
    for ax, pair in zip(curves, [*inter, *inter], strict=True):  # one curve per concept order measured
        assert [line.get_label() for line in ax.get_lines()] == list(inter[pair]["curves"])


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
    params["gig"]["seeds"] = [0, 0]
    with pytest.raises(ParameterError) as info:
        validate_params(params)
    message = str(info.value)
    assert "'gig.data'" in message and "root" in message and "'gig.attribute'" in message
    assert "'gig.seeds'" in message and "distinct" in message


def test_the_paper_ratio_is_the_default(repo_root):
    params = yaml.safe_load((repo_root / "params.yaml").read_text())["gig"]
    assert params["concepts"]["ratio"] == 8.0 and len(params["seeds"]) >= 3


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
