"""The per-seed learning-rate choice (``revis.concepts.rates``): the best validation rate wins, the smaller of
equals, probes are the prefix of the kept run, and the test split never enters the choice."""

import copy

import numpy as np
import pytest
import torch

from revis.concepts.biice import build_concept_classifier
from revis.concepts.rates import candidate_table, choose_rate, select_rate
from revis.concepts.training import ConceptTrainer, train_concept_classifier
from revis.world.shapes import generate_shapes, world_rules

BACKBONE = {"name": "patch_cnn", "width": 8, "depth": 2, "patch": 4}


def test_the_best_validation_rate_wins_and_the_smaller_of_equals():
    assert choose_rate({0.01: 0.8, 0.03: 0.9, 0.1: 0.85}) == 0.03
    assert choose_rate({0.1: 0.9, 0.03: 0.9, 0.01: 0.7}) == 0.03  # not the first of equals: the smaller
    assert choose_rate({0.003: 0.5}) == 0.003
    with pytest.raises(ValueError, match="no candidate"):
        choose_rate({})


class _Fake:
    """A candidate whose validation accuracy per epoch is given; ``run`` records how far it trained."""

    def __init__(self, curve: list[float]) -> None:
        self.curve, self.epoch = curve, 0

    @property
    def best_validation_accuracy(self) -> float:
        return max(self.curve[: self.epoch], default=-1.0)

    def run(self, until: int | None = None) -> None:
        self.epoch = len(self.curve) if until is None else min(until, len(self.curve))


def test_probes_choose_and_only_the_chosen_run_goes_on():
    # 0.01 leads within the probe (2 epochs), 0.1 would win later: the probe's choice stands, and is recorded
    candidates = {0.1: _Fake([0.2, 0.3, 0.95]), 0.01: _Fake([0.5, 0.6, 0.7, 0.8]), 0.03: _Fake([0.6, 0.55, 0.5])}
    choice = select_rate(candidates, probe_epochs=2)
    assert choice.chosen == 0.01 and choice.scores == {0.01: 0.6, 0.03: 0.6, 0.1: 0.3}  # tie 0.01/0.03: smaller
    assert choice.probe_epochs_run == {0.01: 2, 0.03: 2, 0.1: 2}
    assert [candidates[lr].epoch for lr in (0.01, 0.03, 0.1)] == [4, 2, 2]
    full = {0.1: _Fake([0.2, 0.3, 0.95]), 0.01: _Fake([0.5, 0.6, 0.7, 0.8])}
    assert select_rate(full, probe_epochs=None).chosen == 0.1  # the full grid: every run to its end


def _data(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, 16, 16, generator=g), torch.randint(0, 3, (n,), generator=g)


def test_a_run_trained_in_parts_is_the_run_trained_at_once():
    torch.set_num_threads(1)
    (x, y), validation = _data(48, 0), _data(24, 1)
    config = {"epochs": 5, "batch_size": 16, "lr": 0.03, "patience": 3}
    whole = build_concept_classifier("linear", BACKBONE, 3, 3, 16, 4)
    parts = copy.deepcopy(whole)
    history = train_concept_classifier(whole, x, y, config, 0, progress=False, validation=validation)
    trainer = ConceptTrainer(parts, x, y, config, 0, progress=False, validation=validation)
    trainer.run(2)
    assert trainer.epoch == 2 and not trainer.done
    trainer.run()
    resumed = trainer.finish()
    assert resumed.validation_accuracy == history.validation_accuracy and resumed.loss == history.loss
    for key, value in whole.state_dict().items():
        assert torch.equal(value, parts.state_dict()[key]), key


@pytest.fixture(scope="module")
def tiny_train_params():
    from revis.config.runtime import ComputeParams
    from revis.pipelines.biice.params import DataParams, TrainParams

    train = TrainParams.model_validate(
        {
            "variants": ["linear", "biice"],
            "backbone": {**BACKBONE, "norm": "instancenorm"},
            "head": {"iterations": 2, "heads": 1},
            "validation_fraction": 0.25,
            "lr_grid": {"linear": [0.001, 0.03, 0.3], "biice": [0.003, 0.03]},
            "probe_epochs": 1,
            "epochs": 2,
            "patience": 2,
            "batch_size": 16,
            "weight_decay": 0.001,
            "warmup_epochs": 0.5,
            "expl_weight": 1.0,
            "sparsity_weight": 0.1,
        }
    )
    return DataParams(), ComputeParams(device="cpu", threads=1, workers=1), train


def test_the_choice_reads_the_validation_split_and_never_the_test_split(tiny_train_params):
    """Poisoned test labels (every label shifted) and test images (noise) change nothing the train stage
    returns: the chosen rates, every candidate's curve, the kept weights."""
    from revis.pipelines.biice.nodes_train import train_models

    torch.set_num_threads(1)
    data, compute, train = tiny_train_params
    clean = {"train": generate_shapes(48, seed=1), "test": generate_shapes(16, seed=2), "rules": world_rules()}
    poisoned = {**clean, "test": copy.deepcopy(clean["test"])}
    poisoned["test"].labels = (poisoned["test"].labels + 1) % poisoned["test"].num_classes
    poisoned["test"].images = (
        np.random.default_rng(0).integers(0, 256, poisoned["test"].images.shape).astype(poisoned["test"].images.dtype)
    )
    models, histories = train_models(clean, [0, 1], data, compute, train)
    models_p, histories_p = train_models(poisoned, [0, 1], data, compute, train)
    table = candidate_table(histories)
    for run in models["runs"].values():  # each seed keeps the best probe score, the smaller rate of equals
        row = table[run["variant"]][f"seed{run['seed']}"]
        scores = dict(zip(table[run["variant"]]["candidates"], row["probe_validation_accuracy"]))
        assert run["lr"] == row["chosen"] == choose_rate(scores)
    assert candidate_table(histories_p) == table
    assert {k: v["validation_accuracy_per_epoch"] for k, v in histories.items()} == {
        k: v["validation_accuracy_per_epoch"] for k, v in histories_p.items()
    }
    for name, run in models["runs"].items():
        assert run["lr"] == models_p["runs"][name]["lr"]
        for key, value in run["state_dict"].items():
            assert torch.equal(value, models_p["runs"][name]["state_dict"][key])


def test_concept_heads_are_scheduled_first():
    """``train_cost`` orders biice-train's jobs largest first (scheduling only: every job seeds its own run)."""
    from revis.concepts.runs import TrainJob, train_cost

    def job(variant: str, rates: tuple[float, ...]) -> TrainJob:
        return TrainJob({}, variant, rates, 0, np.arange(2), np.arange(2, 4), {})

    linear, mlp, biice, expl = (job(v, (0.01,)) for v in ("linear", "mlp", "biice", "biice_expl"))
    assert train_cost(biice) == train_cost(expl) > train_cost(mlp) == train_cost(linear)
    assert train_cost(job("linear", (0.01, 0.03, 0.1))) == 3 * train_cost(linear)
