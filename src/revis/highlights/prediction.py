"""Clip scores of every HL-CLIP run: random, zero-shot, the saliency head, and each fine-tuned arm, per seed.

The result is ``hlclip.predictions``' ``runs``: ``{"<arm>/seed<s>": {split: {qid: scores}}}`` (JSON lists),
every run's scores of a split forming an official-format submission.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from revis.datasets.qvhighlights import QvhQuery
from revis.highlights.hlclip import FrameSource, random_scores, score_with_encoders
from revis.highlights.runs import FinetunedModels, Run, Scores
from revis.highlights.saliency_head import HeadConfig, head_texts, saliency_head_arm
from revis.vl.checkpoint import load_encoder
from revis.vl.encoder import DualEncoder, as_in_a_job, pooled_texts, shared_depth
from revis.workers import map_jobs


def select_queries(queries: list[QvhQuery], n: int) -> list[QvhQuery]:
    """A fixed random subset of the training queries (seeded, so every arm and seed sees the same)."""
    if n >= len(queries):
        return list(queries)
    picked = np.sort(np.random.default_rng(0).choice(len(queries), size=n, replace=False))
    return [queries[i] for i in picked]


def _as_lists(by_split: Mapping[str, Mapping[int, np.ndarray]]) -> dict[str, Scores]:
    return {split: {qid: s.tolist() for qid, s in by_qid.items()} for split, by_qid in by_split.items()}


@dataclass(frozen=True)
class SeedJob:
    """One seed's runs (a ``map_jobs`` job): random scores, the saliency head on the zero-shot encoder's frozen
    features, the zero-shot encoder and every fine-tuned arm, on every split."""

    seed: int
    zero_shot: dict[str, Any]  # the vl checkpoint of this seed
    tuned: dict[str, dict[str, Any]]  # arm -> its fine-tuned checkpoint of this seed
    frames: FrameSource
    splits: Mapping[str, Sequence[QvhQuery]]
    train_queries: Sequence[QvhQuery]
    head: HeadConfig | None
    head_pooled: torch.Tensor | None  # the shared text backbone's pooled rows of the head's texts, or None
    clip_length: float
    device: str


def score_seed(job: SeedJob) -> dict[str, dict[str, Scores]]:
    """Every run of one seed: ``{"<arm>/seed<s>": {split: {qid: scores}}}`` (random, head, zeroshot, arms)."""
    seed, splits = job.seed, job.splits
    runs: dict[str, dict[str, Scores]] = {
        str(Run("random", seed)): {
            split: {qid: s.tolist() for qid, s in random_scores(queries, seed, job.clip_length).items()}
            for split, queries in splits.items()
        }
    }
    zero_shot = load_encoder(job.zero_shot, job.device)
    if job.head is not None:  # the detector-style baseline: a head trained on the frozen zero-shot features
        config = dataclasses.replace(job.head, seed=seed)
        by_split, _ = saliency_head_arm(
            zero_shot, job.frames, job.train_queries, splits, config, job.clip_length, job.head_pooled
        )
        runs[str(Run("head", seed))] = _as_lists(by_split)
    encoders: dict[str, DualEncoder] = {str(Run("zeroshot", seed)): zero_shot}
    for arm, checkpoint in job.tuned.items():
        encoders[str(Run(arm, seed))] = load_encoder(checkpoint, job.device)
    for split, queries in splits.items():
        for name, by_qid in score_with_encoders(encoders, job.frames, queries, job.clip_length).items():
            runs.setdefault(name, {})[split] = {qid: s.tolist() for qid, s in by_qid.items()}
    return runs


def shared_head_texts(
    encoders: Mapping[str, dict[str, Any]],
    seeds: Sequence[int],
    texts: Sequence[str],
    device: torch.device | str,
) -> dict[int, torch.Tensor]:
    """The text backbone's pooled rows of ``texts``, computed once for every seed whose text blocks equal the
    first seed's (the vl encoders share the frozen MiniLM): ``{seed: pooled}``; other seeds are left out.
    On one torch thread, as each seed's job would compute them."""
    reference = load_encoder(encoders[f"seed{seeds[0]}"], device)
    depth = reference.text.num_blocks
    sharing = [
        s for s in seeds if shared_depth(reference.text, load_encoder(encoders[f"seed{s}"], device).text) == depth
    ]
    if len(sharing) < 2:
        return {}
    with as_in_a_job():
        pooled = pooled_texts(reference, list(texts)).cpu()  # a job moves it to its device
    return {s: pooled for s in sharing}


def predict_runs(
    models: FinetunedModels,
    encoders: Mapping[str, dict[str, Any]],
    frames: FrameSource,
    splits: Mapping[str, Sequence[QvhQuery]],
    train_queries: Sequence[QvhQuery],
    head: HeadConfig | None,
    clip_length: float,
    device: torch.device | str,
    workers: int = 1,
) -> dict[str, dict[str, Scores]]:
    """Scores of every split's queries (``splits``: eval, select) for every run of ``models.seeds``.

    ``encoders`` are the vl checkpoints (``seed<s>``, zero-shot), ``models`` the fine-tuned bundle; ``head``
    (its seed replaced by each run's) trains the detector-style baseline on the frozen zero-shot features.
    One job per seed on ``workers`` processes (one torch thread each): the scores do not depend on ``workers``.
    """
    pooled = shared_head_texts(encoders, models.seeds, head_texts(train_queries, splits), device) if head else {}
    jobs = [
        SeedJob(
            seed,
            encoders[f"seed{seed}"],
            {arm: models.checkpoint(Run(arm, seed)) for arm in models.arms},
            frames,
            splits,
            train_queries,
            head,
            pooled.get(seed),
            clip_length,
            str(device),
        )
        for seed in models.seeds
    ]
    by_seed = map_jobs(score_seed, [(job,) for job in jobs], workers, desc="HL-CLIP scores per seed")
    # the order the runs always had (random and head of each seed first), keyed by this process's split names
    # (one string object for every run, as before the jobs: torch.save writes the file byte for byte as then)
    flat = [(k, v) for seed_runs in by_seed for k, v in seed_runs.items()]
    baselines = [(k, v) for k, v in flat if Run.parse(k).arm in ("random", "head")]
    encoders_runs = [(k, v) for k, v in flat if Run.parse(k).arm not in ("random", "head")]
    return {k: {split: v[split] for split in splits} for k, v in baselines + encoders_runs}
