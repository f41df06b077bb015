"""Clip scores of every HL-CLIP run: random, zero-shot, the saliency head, and each fine-tuned arm, per seed.

The result is ``hlclip.predictions``' ``runs``: ``{"<arm>/seed<s>": {split: {qid: scores}}}`` (JSON lists),
every run's scores of a split forming an official-format submission.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from revis.datasets.qvhighlights import QvhQuery
from revis.highlights.hlclip import FrameSource, random_scores, score_with_encoders
from revis.highlights.runs import FinetunedModels, Run, Scores
from revis.highlights.saliency_head import HeadConfig, saliency_head_arm
from revis.vl.checkpoint import load_encoder
from revis.vl.encoder import DualEncoder


def select_queries(queries: list[QvhQuery], n: int) -> list[QvhQuery]:
    """A fixed random subset of the training queries (seeded, so every arm and seed sees the same)."""
    if n >= len(queries):
        return list(queries)
    picked = np.sort(np.random.default_rng(0).choice(len(queries), size=n, replace=False))
    return [queries[i] for i in picked]


def _as_lists(by_split: Mapping[str, Mapping[int, np.ndarray]]) -> dict[str, Scores]:
    return {split: {qid: s.tolist() for qid, s in by_qid.items()} for split, by_qid in by_split.items()}


def predict_runs(
    models: FinetunedModels,
    encoders: Mapping[str, dict[str, Any]],
    frames: FrameSource,
    splits: Mapping[str, Sequence[QvhQuery]],
    train_queries: Sequence[QvhQuery],
    head: HeadConfig | None,
    clip_length: float,
    device: torch.device | str,
) -> dict[str, dict[str, Scores]]:
    """Scores of every split's queries (``splits``: eval, select) for every run of ``models.seeds``.

    ``encoders`` are the vl checkpoints (``seed<s>``, zero-shot), ``models`` the fine-tuned bundle; ``head``
    (its seed replaced by each run's) trains the detector-style baseline on the frozen zero-shot features.
    """
    runs: dict[str, dict[str, Scores]] = {}
    encoders_by_run: dict[str, DualEncoder] = {}
    for seed in models.seeds:
        runs[str(Run("random", seed))] = {
            split: {qid: s.tolist() for qid, s in random_scores(queries, seed, clip_length).items()}
            for split, queries in splits.items()
        }
        zero_shot = encoders_by_run[str(Run("zeroshot", seed))] = load_encoder(encoders[f"seed{seed}"], device)
        if head is not None:  # the detector-style baseline: a head trained on the frozen zero-shot features
            config = dataclasses.replace(head, seed=seed)
            by_split, _ = saliency_head_arm(zero_shot, frames, train_queries, splits, config, clip_length)
            runs[str(Run("head", seed))] = _as_lists(by_split)
        for arm in models.arms:
            encoders_by_run[str(Run(arm, seed))] = load_encoder(models.checkpoint(Run(arm, seed)), device)
    for split, queries in splits.items():
        scored = score_with_encoders(encoders_by_run, frames, queries, clip_length)
        for name, by_qid in scored.items():
            runs.setdefault(name, {})[split] = {qid: s.tolist() for qid, s in by_qid.items()}
    return runs
