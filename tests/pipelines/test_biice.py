"""The ``biice`` pipeline: its wiring in memory on tiny inputs (fast), KedroSession runs (integration)."""

import json
import pickle

import numpy as np
import pytest
import torch
import yaml

from revis.concepts.metrics import LocalizedBiiceMetrics, StudyScores, contribution_scores, convergence
from revis.concepts.pictures import LABELS
from revis.concepts.runs import keep_best_rates, split_test_set
from revis.config.schema import ParameterError, validate_params
from revis.reporting.claims import ClaimsFile, claim_paths, lookup
from revis.reporting.results import to_json
from revis.reporting.summary import flat_numbers
from revis.world.shapes import generate_shapes, world_rules

PICTURES = ["concept_maps", "contributions", "convergence", "deletion", "lr_selection"]
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
    seeds = biice_params["seeds"]
    assert len(histories) == len(seeds) * sum(len(grid[v]) for v in biice_params["train"]["variants"])
    for seed in seeds:
        tried = {
            h["lr"]: h["probe_validation_accuracy"]
            for name, h in histories.items()
            if name.startswith(f"linear/seed{seed}/")
        }
        assert set(tried) == set(grid["linear"])
        kept = models["runs"][f"linear/seed{seed}"]
        best = max(tried.values())
        assert kept["lr"] == min(lr for lr, score in tried.items() if score == best)  # the smaller of equals
        assert histories[f"linear/seed{seed}/lr{kept['lr']:g}"]["kept"]
    assert set(models["runs"]) == {f"{v}/seed{s}" for v in ("linear", "mlp", "biice", "biice_expl") for s in seeds}
    metrics = to_json(wired["biice.metrics"])
    assert metrics["lr_selection"]["linear"]["candidates"] == sorted(grid["linear"])
    assert [metrics["lr_selection"]["linear"][f"seed{s}"]["chosen"] for s in seeds] == metrics["learning_rate"][
        "linear"
    ]["values"]
    assert len(wired["biice.plot_lr_selection"].get_axes()) == 4 * len(seeds)  # per head and seed


def test_seeds_vary_the_whole_chain(wired):
    splits = wired["biice.attributions"]["splits"]
    assert not torch.equal(splits[0]["match_index"], splits[1]["match_index"])
    runs = wired["biice.models"]["runs"]
    first, second = runs["biice/seed0"]["state_dict"], runs["biice/seed1"]["state_dict"]
    assert not torch.equal(first["head.binding.slots"], second["head.binding.slots"])


def test_metrics_pair_by_seed_and_every_claim_and_metric_is_covered(wired, repo_root, biice_params):
    assert isinstance(wired["biice.metrics"], LocalizedBiiceMetrics)  # the shapes world has concept masks
    metrics = to_json(wired["biice.metrics"])
    assert set(metrics["accuracy"]) == {"linear", "mlp", "biice", "biice_expl"}
    assert metrics["accuracy"]["mlp"]["seeds"] == [0, 1] and metrics["accuracy"]["mlp"]["n"] == 2
    for variant, accuracy in metrics["accuracy"].items():
        assert all(0 <= v <= 1 for v in accuracy["values"])
        assert metrics["learning_rate"][variant]["seeds"] == [0, 1]
    assert 0 < metrics["chance_accuracy"] < 1
    assert set(metrics["localisation"]) == {"biice", "biice_expl"}
    assert set(metrics["localisation"]["biice_expl"]["per_concept"]) == CONCEPTS
    assert metrics["contributions"]["biice"]["sum_to_logit_max_abs_error"] < 1e-4
    assert metrics["contributions"]["chance_precision_at_k"] == pytest.approx(2 / 7)
    assert 0 <= metrics["localisation"]["biice"]["pointing_game_shuffled"]["mean"] <= 1
    assert "shapes world" in metrics["scale"]
    for epochs in metrics["epochs"].values():  # the stopping rule: never past the most epochs
        assert all(
            1 <= k <= r <= biice_params["train"]["epochs"]
            for k, r in zip(epochs["kept"]["values"], epochs["run"]["values"])
        )
    for variant in ("biice", "biice_expl"):  # the known answer's deletion order is scored beside the others
        assert metrics["faithfulness"][variant]["ground_truth_mask_drop_auc"]["n"] == 2
    claims = ClaimsFile.model_validate(yaml.safe_load((repo_root / "claims/biice.yaml").read_text()))
    for claim in claims.claims:
        for path in claim_paths(claim):
            lookup(metrics, path)
    unruled = [m for m in flat_numbers(metrics) if claims.rule_for(m) is None]
    assert not unruled
    json.dumps(metrics)


def test_pictures_show_every_concept_head_and_order(wired, biice_params):
    pictures = biice_params["attribute"]["picture_images"]
    maps = wired["biice.plot_concept_maps"].get_axes()
    assert len(maps) == pictures * 2 * (1 + len(CONCEPTS))  # per image and concept head: the input, each concept
    deletion = wired["biice.plot_deletion"].get_axes()
    assert [ax.get_title() for ax in deletion] == [LABELS["biice"], LABELS["biice_expl"]]
    # concept attention, per-patch logit, the ground-truth masks first (the known answer), random
    assert all(len(ax.get_lines()) == 4 for ax in deletion)
    assert len(wired["biice.plot_convergence"].get_axes()) == 2  # binding iterations, training epochs


def test_the_test_split_is_seeded_and_disjoint():
    labels = np.array([0, 1, 2] * 10)
    split = split_test_set(labels, 0.5, 3, 4, seed=7)
    match, held_out = set(split["match_index"].tolist()), set(split["eval_index"].tolist())
    assert len(match) == 15 and not match & held_out and match | held_out == set(range(30))
    assert sorted(labels[split["picture_index"].numpy()].tolist()) == [0, 1, 2]  # one picture per class
    assert set(split["picture_index"].tolist()) <= held_out and split["deletion_index"].tolist() == sorted(held_out)[:4]
    assert torch.equal(split_test_set(labels, 0.5, 3, 4, seed=7)["match_index"], split["match_index"])


def test_the_chosen_run_is_kept_and_every_candidate_recorded():
    def run(lr: float, chosen: bool) -> dict:
        history = {"loss": [1.0], "validation_accuracy": [0.6]}
        record = {"variant": "linear", "seed": 0, "lr": lr, "chosen": chosen, "history": history}
        return {**record, "validation_accuracy": 0.7, "state_dict": {}} if chosen else record

    models, histories = keep_best_rates({"backbone": {}}, [run(0.001, False), run(0.01, True), run(0.1, False)])
    assert models["runs"]["linear/seed0"]["lr"] == 0.01 and models["backbone"] == {}
    assert [h["kept"] for h in histories.values()] == [False, True, False]
    assert histories["linear/seed0/lr0.01"]["validation_accuracy"] == 0.7
    assert histories["linear/seed0/lr0.1"]["validation_accuracy"] == 0.6  # the best epoch it trained
    assert histories["linear/seed0/lr0.1"]["validation_accuracy_per_epoch"] == [0.6]
    with pytest.raises(ValueError, match="no chosen rate"):
        keep_best_rates({}, [run(0.001, False)])


def test_contribution_and_convergence_scores_are_paired_by_seed():
    per = {
        "seed": [0, 1],
        "precision": [0.5, 1.0],
        "mass_precision": [0.25, 0.75],
        "sum_error": [1e-6, 3e-6],
        "binding_ratio": [0.1, 0.3],
        "binding_ratio_untrained": [0.9, 0.7],
        "slot_drift": [np.array([0.4, 0.1]), np.array([0.6, 0.3])],
        "bound_drift": [np.array([0.2, 0.0]), np.array([0.4, 0.2])],
    }
    scores = contribution_scores(per)
    assert scores.precision_at_k["mean"] == 0.75 and scores.precision_at_k["seeds"] == [0, 1]
    assert scores.sum_to_logit_max_abs_error == 3e-6
    drift = convergence(per)
    assert drift.slot_drift_first_epoch["values"] == [0.4, 0.6] and drift.slot_drift_last_epoch[
        "mean"
    ] == pytest.approx(0.2)
    assert drift.bound_drift_last_epoch["values"] == [0.0, 0.2]
    assert StudyScores({"linear": {}, "biice_expl": {}}, {}).concept_variants == ["biice_expl"]


def test_real_datasets_need_a_folder(repo_root):
    params = yaml.safe_load((repo_root / "params.yaml").read_text())
    params["biice"]["data"]["dataset"] = "cub"
    params["biice"]["train"]["backbone"]["name"] = "convnet"
    with pytest.raises(ParameterError) as info:
        validate_params(params)
    message = str(info.value)
    assert "'biice.data'" in message and "needs 'root'" in message and "'biice.train.backbone'" in message
    params = yaml.safe_load((repo_root / "params.yaml").read_text())
    params["biice"]["train"]["lr_grid"]["mlp"] = []
    with pytest.raises(ParameterError) as info:
        validate_params(params)
    message = str(info.value)
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
