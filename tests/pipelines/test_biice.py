"""The ``biice`` pipeline: its wiring in memory on tiny inputs (fast), KedroSession runs (integration)."""

import json
import pickle

import numpy as np
import pytest
import torch
import yaml

from revis.config.schema import ParameterError, validate_params
from revis.reporting.claims import ClaimsFile, claim_paths, lookup
from revis.reporting.summary import flat_numbers
from revis.world.shapes import generate_shapes, world_rules

PICTURES = ["concept_maps", "contributions", "convergence", "deletion"]
CONCEPTS = {"red", "green", "blue", "circle", "square", "triangle", "stripes"}


def _merged(base: dict, override: dict) -> dict:
    out = dict(base)
    for key, value in override.items():
        out[key] = _merged(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict) else value
    return out


@pytest.fixture(scope="module")
def biice_params(repo_root, tiny_params):
    return _merged(yaml.safe_load((repo_root / "params.yaml").read_text())["biice"], tiny_params["biice"])


@pytest.fixture(scope="module")
def wired(run_in_memory, biice_params):
    from kedro.io import MemoryDataset

    torch.set_num_threads(1)
    shapes = {"train": generate_shapes(60, seed=1), "test": generate_shapes(24, seed=2), "rules": world_rules()}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(MemoryDataset, "_release", lambda self: None)  # keep what crosses stages, to inspect it
        return run_in_memory("biice", inputs={"world.shapes": shapes}, params={"biice": biice_params})


def test_each_seed_keeps_the_rate_that_wins_on_its_validation_split(wired, biice_params):
    histories, models = wired["biice.histories"], wired["biice.models"]
    grid = biice_params["train"]["lr_grid"]
    seeds = biice_params["train"]["seeds"]
    assert len(histories) == len(seeds) * sum(len(grid[v]) for v in biice_params["train"]["variants"])
    for seed in seeds:
        tried = {
            h["lr"]: h["validation_accuracy"] for name, h in histories.items() if name.startswith(f"linear/seed{seed}/")
        }
        assert set(tried) == set(grid["linear"])
        kept = models["runs"][f"linear/seed{seed}"]
        assert kept["validation_accuracy"] == max(tried.values()) and tried[kept["lr"]] == max(tried.values())
        assert histories[f"linear/seed{seed}/lr{kept['lr']:g}"]["kept"]
    assert set(models["runs"]) == {f"{v}/seed{s}" for v in ("linear", "mlp", "biice", "biice_expl") for s in seeds}


def test_seeds_vary_the_whole_chain(wired):
    splits = wired["biice.attributions"]["splits"]
    assert not torch.equal(splits[0]["match_index"], splits[1]["match_index"])
    runs = wired["biice.models"]["runs"]
    first, second = runs["biice/seed0"]["state_dict"], runs["biice/seed1"]["state_dict"]
    assert not torch.equal(first["head.binding.slots"], second["head.binding.slots"])


def test_metrics_pair_by_seed_and_every_claim_and_metric_is_covered(wired, repo_root):
    metrics = wired["biice.metrics"]
    assert set(metrics["accuracy"]) == {"linear", "mlp", "biice", "biice_expl"}
    assert metrics["accuracy"]["mlp"]["seeds"] == [0, 1] and metrics["accuracy"]["mlp"]["n"] == 2
    assert set(metrics["localisation"]) == {"biice", "biice_expl"}
    assert set(metrics["localisation"]["biice_expl"]["per_concept"]) == CONCEPTS
    assert metrics["contributions"]["biice"]["sum_to_logit_max_abs_error"] < 1e-4
    assert metrics["contributions"]["chance_precision_at_k"] == pytest.approx(2 / 7)
    assert 0 <= metrics["localisation"]["biice"]["pointing_game_shuffled"]["mean"] <= 1
    assert "shapes world" in metrics["scale"]
    claims = ClaimsFile.model_validate(yaml.safe_load((repo_root / "claims/biice.yaml").read_text()))
    for claim in claims.claims:
        for path in claim_paths(claim):
            lookup(metrics, path)
    unruled = [m for m in flat_numbers(metrics) if claims.rule_for(m) is None]
    assert not unruled
    json.dumps(metrics)


def test_pictures_are_figures(wired):
    for picture in PICTURES:
        assert wired[f"biice.plot_{picture}"].get_axes()


def test_real_datasets_need_a_folder(repo_root):
    params = yaml.safe_load((repo_root / "params.yaml").read_text())
    params["biice"]["data"]["dataset"] = "cub"
    params["biice"]["train"]["backbone"]["name"] = "convnet"
    message = str(pytest.raises(ParameterError, validate_params, params).value)
    assert "'biice.data'" in message and "needs 'root'" in message and "'biice.train.backbone'" in message
    params = yaml.safe_load((repo_root / "params.yaml").read_text())
    params["biice"]["train"]["lr_grid"]["mlp"] = []
    message = str(pytest.raises(ParameterError, validate_params, params).value)
    assert "'biice.train'" in message and "lr_grid needs at least one learning rate for ['mlp']" in message


def _write_cifar100(root, n_train=48, n_test=24):
    root.mkdir(parents=True)
    rng = np.random.default_rng(0)
    with open(root / "meta", "wb") as f:
        pickle.dump(
            {
                b"fine_label_names": [f"f{i}".encode() for i in range(6)],
                b"coarse_label_names": [f"c{i}".encode() for i in range(3)],
            },
            f,
        )
    for split, n in (("train", n_train), ("test", n_test)):
        fine = rng.integers(0, 6, n)
        with open(root / split, "wb") as f:
            pickle.dump(
                {
                    b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                    b"fine_labels": fine.tolist(),
                    b"coarse_labels": (fine // 2).tolist(),
                },
                f,
            )


@pytest.mark.integration
def test_session_runs_stage_by_stage_on_shapes_and_on_a_cifar100_folder(tmp_path, project_factory, kedro_run):
    """Stage by stage on the shapes world; then the paper-scale path on a tiny CIFAR-100 folder
    (superclasses as classes, fine classes as image-level concepts: no masks, so no localisation)."""
    root = project_factory("biice")
    store = root.parent / "mlflow.db"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("REVIS_MLFLOW_DB", str(store))
        patch.chdir(root)
        kedro_run(root, "world", node_names=["world.make_shapes"])
        for stage in ("train", "attribute", "evaluate"):  # one stage at a time: what crosses them is persisted
            kedro_run(root, "biice", [stage])
    metrics = json.loads((root / "reports/biice/metrics.json").read_text())
    assert set(metrics["accuracy"]) == {"linear", "mlp", "biice", "biice_expl"}
    for picture in PICTURES:
        assert (root / f"reports/biice/plots/{picture}.png").stat().st_size > 5_000

    _write_cifar100(tmp_path / "cifar-100-python")
    cifar = project_factory(
        "biice-cifar", extra={"biice": {"data": {"dataset": "cifar100", "root": str(tmp_path / "cifar-100-python")}}}
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("REVIS_MLFLOW_DB", str(store))  # an existing store: no migrations
        patch.chdir(cifar)
        import shutil

        shutil.copytree(
            root / "data/01_raw/shapes", cifar / "data/01_raw/shapes"
        )  # the wiring still reads world.shapes
        kedro_run(cifar, "biice")
    metrics = json.loads((cifar / "reports/biice/metrics.json").read_text())
    assert "localisation" not in metrics and metrics["scale"].startswith("cifar100")
    assert metrics["contributions"]["chance_precision_at_k"] == pytest.approx(2 / 6)  # two fine classes per superclass
    assert metrics["contributions"]["biice_expl"]["sum_to_logit_max_abs_error"] < 1e-4
