"""``hlclip-evaluate``: clip scores of every arm x seed, the official metrics over pooling windows, pictures."""

from __future__ import annotations

import functools
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from revis.datasets.qvhighlights import QvhQuery, VideoCorpus, open_corpus
from revis.highlights.comparison import compare_runs
from revis.highlights.hlclip import random_scores, score_with_encoders
from revis.highlights.pictures import finetuning_figure, pooling_figure, strips_figure
from revis.highlights.pooling import pool_scores
from revis.highlights.saliency_head import HeadConfig, saliency_head_arm
from revis.pipelines.hlclip.params import DataParams, EvaluateParams
from revis.reporting.summary import mean_std
from revis.runtime import apply_runtime
from revis.vl.checkpoint import load_encoder


def _selection(queries: list[QvhQuery], n: int) -> list[QvhQuery]:
    """A fixed random subset of the training queries (seeded, so every arm and seed sees the same)."""
    if n >= len(queries):
        return list(queries)
    picked = np.sort(np.random.default_rng(0).choice(len(queries), size=n, replace=False))
    return [queries[i] for i in picked]


def predict_saliency(
    models: dict[str, Any], encoders: dict[str, Any], videos: VideoCorpus, data: DataParams, evaluate: EvaluateParams
) -> dict[str, Any]:
    """``{"runs": {"<arm>/seed<s>": {"eval": {qid: scores}, "select": {qid: scores}}}, ...}`` for random,
    zero-shot (the vl encoder), the saliency head on its frozen features, and each fine-tuned arm."""
    device = apply_runtime(evaluate.device, 1)
    corpus = open_corpus(videos, data.root)
    frames = functools.partial(corpus.frames, image_size=data.image_size)
    eval_queries = corpus.labelled(data.eval_split)
    train_queries = corpus.labelled(data.train_split)
    select_queries = _selection(train_queries, evaluate.select_w_queries)
    encoders_by_run = {}
    runs: dict[str, dict[str, dict[int, list[float]]]] = {}
    for seed in models["seeds"]:
        runs[f"random/seed{seed}"] = {
            split: {qid: s.tolist() for qid, s in random_scores(queries, seed, corpus.clip_length).items()}
            for split, queries in (("eval", eval_queries), ("select", select_queries))
        }
        encoders_by_run[f"zeroshot/seed{seed}"] = load_encoder(encoders["checkpoints"][f"seed{seed}"], device)
        if evaluate.head_steps:  # the detector-style baseline: a head trained on the frozen zero-shot features
            config = HeadConfig(hidden=evaluate.head_hidden, steps=evaluate.head_steps, seed=seed)
            splits = {"eval": eval_queries, "select": select_queries}
            by_split, _ = saliency_head_arm(
                encoders_by_run[f"zeroshot/seed{seed}"], frames, train_queries, splits, config, corpus.clip_length
            )
            runs[f"head/seed{seed}"] = {k: {q: s.tolist() for q, s in v.items()} for k, v in by_split.items()}
        for arm in models["arms"]:
            encoders_by_run[f"{arm}/seed{seed}"] = load_encoder(models["checkpoints"][f"{arm}/seed{seed}"], device)
    for split, queries in (("eval", eval_queries), ("select", select_queries)):
        scored = score_with_encoders(encoders_by_run, frames, queries, corpus.clip_length)
        for name, by_qid in scored.items():
            runs.setdefault(name, {})[split] = {qid: s.tolist() for qid, s in by_qid.items()}
    return {
        "eval_split": data.eval_split,
        "select_split": data.train_split,
        "eval_qids": [q.qid for q in eval_queries],
        "select_qids": [q.qid for q in select_queries],
        "runs": runs,
    }


def evaluate_highlights(
    predictions: dict[str, Any],
    models: dict[str, Any],
    histories: dict[str, list[float]],
    videos: VideoCorpus,
    data: DataParams,
    evaluate: EvaluateParams,
) -> tuple[dict[str, Any], plt.Figure, plt.Figure, plt.Figure]:
    """HL mAP / HIT@1 at Fair, Good, VeryGood per arm and w (w* chosen on training queries), mean ± sd over seeds."""
    corpus = open_corpus(videos, data.root)
    by_qid = {q.qid: q for q in corpus.labelled(data.eval_split)}
    eval_queries = [by_qid[q] for q in predictions["eval_qids"]]
    train_by_qid = {q.qid: q for q in corpus.labelled(data.train_split)}
    select_queries = [train_by_qid[q] for q in predictions["select_qids"]]
    runs: dict[str, dict[int, dict[str, dict[int, list[float]]]]] = {}
    for name, scores in predictions["runs"].items():
        arm, seed = name.split("/seed")
        runs.setdefault(arm, {})[int(seed)] = {
            split: {int(q): v for q, v in by_split.items()} for split, by_split in scores.items()
        }
    metrics: dict[str, Any] = compare_runs(runs, eval_queries, select_queries, evaluate.windows)
    seeds = list(models["seeds"])
    metrics["trainable_parameters"] = models["trainable"]
    metrics["final_mse"] = {
        arm: mean_std([float(np.mean(histories[f"{arm}/seed{s}"][-20:])) for s in seeds], seeds)
        for arm in models["arms"]
    }
    metrics["queries"] = {"eval": len(eval_queries), "select_w": len(select_queries)}
    tuned = next(iter(models["arms"]))
    first = seeds[0]
    w_star = int(round(metrics["best_w"][tuned]["values"][0]))
    shown = eval_queries[: evaluate.picture_queries]
    frames = {q.vid: corpus.frames(q.vid, data.image_size) for q in shown}
    curves = {
        "zero-shot": runs["zeroshot"][first]["eval"],
        f"HL-CLIP {tuned}": runs[tuned][first]["eval"],
        f"{tuned} pooled (w={w_star})": {q.qid: pool_scores(runs[tuned][first]["eval"][q.qid], w_star) for q in shown},
    }
    strips = strips_figure(
        shown, frames, curves, f"hlclip on {data.eval_split}: ground truth, scores (seed {first}, min-max scaled)"
    )
    sweep = {arm: {w: metrics["vg"]["map"][arm][f"w{w}"]["values"] for w in evaluate.windows} for arm in runs}
    pooling = pooling_figure(
        sweep, "HL mAP (>= VeryGood), %", f"saliency pooling on {data.eval_split}, {len(seeds)} seeds"
    )
    finetuning = finetuning_figure(histories, "HL-CLIP fine-tuning loss")
    is_world = corpus.world() is not None
    metrics["scale"] = (
        f"{'mini-world videos' if is_world else 'QVHighlights'}: {len(train_by_qid)} {data.train_split} queries, "
        f"{len(eval_queries)} {data.eval_split} queries; arms {', '.join(models['arms'])}; {len(seeds)} whole-chain seeds "
        f"(vl encoder seed s -> fine-tuning seed s); w* chosen on {len(select_queries)} {data.train_split} queries"
    )
    return metrics, strips, pooling, finetuning
