"""HL-CLIP's runs: one per (arm, seed), keyed ``"<arm>/seed<s>"`` in the artifacts that the catalog persists.

:class:`Run` is the typed key; ``str(run)`` and :meth:`Run.parse` convert at the artifacts' boundary
(``hlclip.models`` checkpoints, ``hlclip.histories``, ``hlclip.predictions``), whose formats stay as they are.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypedDict

from revis.curves import curve_key, log_curve
from revis.datasets.qvhighlights import QvhQuery
from revis.highlights.hlclip import FinetuneConfig, FrameSource, finetune_checkpoint
from revis.vl.checkpoint import load_encoder
from revis.vl.encoder import as_in_a_job, cached_prefix, frozen_prefix_blocks, shared_depth
from revis.vl.towers import State
from revis.workers import map_jobs

Scores = dict[int, list[float]]  # qid -> one score per clip


@dataclass(frozen=True, order=True)
class Run:
    arm: str  # random | zeroshot | head | last<n> | full
    seed: int

    def __str__(self) -> str:
        return f"{self.arm}/seed{self.seed}"

    @classmethod
    def parse(cls, key: str) -> Run:
        """``"<arm>/seed<s>"`` -> ``Run(arm, s)``."""
        arm, seed = key.split("/seed")
        return cls(arm, int(seed))


@dataclass(frozen=True)
class FinetuneJob:
    """One run's fine-tuning (a ``map_jobs`` job): the vl checkpoint of its seed, tuned with ``config``."""

    checkpoint: dict[str, Any]
    frames: FrameSource
    queries: Sequence[QvhQuery]
    config: FinetuneConfig  # the run's arm (last_layers, train_tables) and seed
    device: str
    text_prefix: State | None = None  # the text tower's frozen prefix of the queries, shared by the seeds


def finetune_job(job: FinetuneJob) -> tuple[dict, dict[str, object]]:
    """:func:`~revis.highlights.hlclip.finetune_checkpoint` of one job: (checkpoint, history and counts)."""
    return finetune_checkpoint(job.checkpoint, job.frames, job.queries, job.config, job.device, job.text_prefix)


def shared_text_prefixes(
    arms: Mapping[str, int | None],
    seeds: Sequence[int],
    encoders: Mapping[str, dict[str, Any]],
    queries: Sequence[QvhQuery],
    device: str,
) -> dict[str, State]:
    """``{arm: the text tower's frozen prefix of the queries}`` for the last-k arms, computed once for all seeds
    when their text towers hold the same weights there (the vl encoders share the frozen MiniLM): exact, on one
    torch thread as in a job. Arms without a frozen prefix, or seeds that differ, are left out."""
    if len(seeds) < 2:
        return {}
    reference = load_encoder(encoders[f"seed{seeds[0]}"], device).text
    depth = min(shared_depth(reference, load_encoder(encoders[f"seed{s}"], device).text) for s in seeds[1:])
    texts = [q.query for q in queries]
    out = {}
    with as_in_a_job():
        for arm, last in arms.items():
            start = frozen_prefix_blocks(reference, last)
            if 0 < start <= depth:
                out[arm] = cached_prefix(reference, texts, start).to("cpu")  # a job moves it to its device
    return out


@dataclass(frozen=True)
class FinetunedModels:
    """``hlclip.models``: every fine-tuned run's checkpoint, with the arms, seeds and settings they share.

    The file keeps its format (a dict of tensors and plain containers that ``TorchDataset`` loads with
    ``weights_only=True``): :meth:`to_file` and :meth:`parse` convert at that boundary.
    """

    arms: dict[str, int | None]  # arm -> last blocks tuned (None: every block)
    seeds: list[int]
    normalisation: str
    checkpoints: dict[str, dict[str, Any]]  # str(Run) -> encoder checkpoint
    trainable: dict[str, Any]  # arm -> parameter counts of its (last) run

    def to_file(self) -> dict[str, Any]:
        """The persisted dict (keys in this order)."""
        return {
            "arms": self.arms,
            "seeds": self.seeds,
            "normalisation": self.normalisation,
            "checkpoints": self.checkpoints,
            "trainable": self.trainable,
        }

    @classmethod
    def parse(cls, bundle: Mapping[str, Any]) -> FinetunedModels:
        """The dict :meth:`to_file` wrote, loaded back."""
        return cls(
            arms=dict(bundle["arms"]),
            seeds=list(bundle["seeds"]),
            normalisation=bundle["normalisation"],
            checkpoints=dict(bundle["checkpoints"]),
            trainable=dict(bundle["trainable"]),
        )

    def checkpoint(self, run: Run) -> dict[str, Any]:
        """The fine-tuned checkpoint of ``run``."""
        return self.checkpoints[str(run)]


class Predictions(TypedDict):
    """``hlclip.predictions``: the queries scored and every run's clip scores per split."""

    eval_split: str
    select_split: str  # the split whose queries choose the pooling window w*
    eval_qids: list[int]
    select_qids: list[int]
    runs: dict[str, dict[str, Scores]]  # str(Run) -> split ("eval" | "select") -> qid -> scores


def arms_to_tune(last_layers: int, full: bool) -> dict[str, int | None]:
    """``last<n>`` (the last n blocks) and, when ``full``, every block (``None``), in this order."""
    arms: dict[str, int | None] = {f"last{last_layers}": last_layers}
    if full:
        arms["full"] = None
    return arms


def finetune_runs(
    arms: Mapping[str, int | None],
    seeds: Sequence[int],
    base: FinetuneConfig,
    full_tables: bool,
    encoders: Mapping[str, dict[str, Any]],
    frames: FrameSource,
    queries: Sequence[QvhQuery],
    device: str,
    workers: int,
) -> tuple[FinetunedModels, dict[str, list[float]]]:
    """Fine-tune the vl encoder of every seed in every arm (arms outer, seeds inner): the ``hlclip.models``
    bundle and the MSE histories per run, also logged as curves from this process."""
    runs = [Run(arm, seed) for arm in arms for seed in seeds]
    prefixes = shared_text_prefixes(arms, seeds, encoders, queries, device)
    jobs = [
        FinetuneJob(
            encoders[f"seed{run.seed}"],
            frames,
            queries,
            dataclasses.replace(
                base,
                last_layers=arms[run.arm],
                train_tables=arms[run.arm] is None and full_tables,
                seed=run.seed,
            ),
            device,
            prefixes.get(run.arm),
        )
        for run in runs
    ]
    results = map_jobs(finetune_job, [(job,) for job in jobs], workers, desc="HL-CLIP fine-tuning per arm x seed")
    histories = {str(run): result["loss"] for run, (_, result) in zip(runs, results)}
    for run, (_, result) in zip(runs, results):
        for step, loss in enumerate(result["loss"]):
            log_curve({"mse": loss}, step, curve_key(run.arm, str(run.seed)))
    models = FinetunedModels(
        arms=dict(arms),
        seeds=list(seeds),
        normalisation=base.normalisation,
        checkpoints={str(run): checkpoint for run, (checkpoint, _) in zip(runs, results)},
        trainable={run.arm: result["trainable"] for run, (_, result) in zip(runs, results)},
    )
    return models, histories


def runs_by_arm(runs: Mapping[str, Mapping[str, Mapping[Any, list[float]]]]) -> dict[str, dict[int, dict[str, Scores]]]:
    """``{"<arm>/seed<s>": {split: {qid (an int, or a JSON string): scores}}}`` -> ``{arm: {seed: {split: {qid:
    scores}}}}``."""
    out: dict[str, dict[int, dict[str, Scores]]] = {}
    for key, scores in runs.items():
        run = Run.parse(key)
        out.setdefault(run.arm, {})[run.seed] = {
            split: {int(q): v for q, v in by_split.items()} for split, by_split in scores.items()
        }
    return out
