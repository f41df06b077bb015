"""Per-seed learning-rate choice on the validation split, by full runs or by probes that are the prefix of the kept run.

Every candidate rate trains under the same stopping rule (``revis.concepts.training``) and is scored by the
best validation accuracy of its first ``probe_epochs`` epochs (fewer if the rule stopped it earlier); the
rate with the best score is chosen, ties going to the smaller rate. The chosen candidate then goes on from
where its probe left off to the end of its stopping rule: its run is the final model (the schedule spans the
run's most epochs from the start, so a probe is exactly the first epochs of the full run, not a shorter run
of its own), and the other candidates stop at the probe. ``probe_epochs`` None: every candidate runs to its
stopping rule and is scored by its best validation accuracy (the full grid: up to three times the training of
one rate for three rates; 2.4 times in the shapes study, where bad rates stop early; the default, since short
probes favour small rates there). Only validation accuracies enter the choice; the caller hands in no test data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol


class Candidate(Protocol):
    """A resumable training run (``revis.concepts.training.ConceptTrainer``)."""

    epoch: int

    @property
    def best_validation_accuracy(self) -> float: ...

    def run(self, until: int | None = None) -> None: ...


def choose_rate(scores: Mapping[float, float]) -> float:
    """The rate with the best validation score; of equal scores, the smaller rate."""
    if not scores:
        raise ValueError("no candidate rates")
    return min(scores, key=lambda lr: (-scores[lr], lr))


@dataclass(frozen=True)
class RateChoice:
    """The chosen rate, each candidate's score (best validation accuracy of its probe) and its epochs at the
    choice."""

    chosen: float
    scores: dict[float, float]
    probe_epochs_run: dict[float, int]


def select_rate(candidates: Mapping[float, Candidate], probe_epochs: int | None) -> RateChoice:
    """Probe every candidate (``probe_epochs``; None: to its end), choose by validation accuracy, run the chosen
    one to the end of its stopping rule. The candidates are trained in place."""
    rates: Sequence[float] = sorted(candidates)
    for lr in rates:
        candidates[lr].run(probe_epochs)
    scores = {lr: candidates[lr].best_validation_accuracy for lr in rates}
    epochs = {lr: candidates[lr].epoch for lr in rates}
    chosen = choose_rate(scores)
    candidates[chosen].run()
    return RateChoice(chosen, scores, epochs)


RULE = (
    "per seed and head, every rate of train.lr_grid trains under the stopping rule on the fit part of the training "
    "split; the rate with the best validation accuracy within its first probe_epochs epochs (null: its whole run) "
    "is chosen, the smaller of equals; the chosen run goes on to its stopping rule and is the kept model; the test "
    "split is not read"
)


def candidate_table(histories: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """metrics.json's ``lr_selection`` from the train stage's histories (``<variant>/seed<s>/lr<lr>`` ->
    history): the rule, the probe length, and per head its candidate rates and per seed each candidate's probe
    score, its epochs at the choice and the chosen rate."""
    table: dict[str, Any] = {"rule": RULE, "probe_epochs": None}
    for name, history in sorted(histories.items(), key=lambda item: (item[0].split("/")[:2], item[1]["lr"])):
        variant, seed, _ = name.split("/")
        table["probe_epochs"] = history.get("probe_epochs")
        head = table.setdefault(variant, {"candidates": []})
        if history["lr"] not in head["candidates"]:
            head["candidates"].append(history["lr"])
        row = head.setdefault(seed, {"probe_validation_accuracy": [], "probe_epochs_run": [], "chosen": None})
        row["probe_validation_accuracy"].append(history["probe_validation_accuracy"])
        row["probe_epochs_run"].append(history["probe_epochs_run"])
        if history["kept"]:
            row["chosen"] = history["lr"]
    return table
