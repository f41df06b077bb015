"""``hlclip-evaluate``: clip scores of every arm x seed, the official metrics over pooling windows, pictures."""

from __future__ import annotations

import functools
from typing import Any

import matplotlib.pyplot as plt

from revis.config.runtime import ComputeParams
from revis.datasets.qvhighlights import VideoCorpus, open_corpus
from revis.highlights.metrics import HlclipMetrics, first_chosen_window, hlclip_metrics, window_sweep
from revis.highlights.pictures import finetuning_figure, first_seed_strips, pooling_figure
from revis.highlights.prediction import predict_runs, select_queries
from revis.highlights.runs import FinetunedModels, Predictions, runs_by_arm
from revis.highlights.saliency_head import HeadConfig
from revis.pipelines.hlclip.params import EvaluateParams
from revis.runtime import apply_runtime
from revis.vl.checkpoint import EncoderBundle
from revis.vl.config import VideoDataParams


def predict_saliency(
    models: dict[str, Any],
    encoders: EncoderBundle,
    videos: VideoCorpus,
    data: VideoDataParams,
    compute: ComputeParams,
    evaluate: EvaluateParams,
) -> Predictions:
    """``{"runs": {"<arm>/seed<s>": {"eval": {qid: scores}, "select": {qid: scores}}}, ...}`` for random,
    zero-shot (the vl encoder), the saliency head on its frozen features, and each fine-tuned arm; one job per
    seed on ``compute.workers`` processes."""
    device = apply_runtime(compute.device, compute.threads)
    corpus = open_corpus(videos, data.root)
    eval_queries = corpus.labelled(data.eval_split)
    train_queries = corpus.labelled(data.train_split)
    chosen = select_queries(train_queries, evaluate.select_w_queries)
    head = HeadConfig(hidden=evaluate.head_hidden, steps=evaluate.head_steps) if evaluate.head_steps else None
    runs = predict_runs(
        FinetunedModels.parse(models),
        encoders["checkpoints"],
        functools.partial(corpus.frames, image_size=data.image_size),
        {"eval": eval_queries, "select": chosen},
        train_queries,
        head,
        corpus.clip_length,
        device,
        compute.workers,
    )
    return Predictions(
        eval_split=data.eval_split,
        select_split=data.train_split,
        eval_qids=[q.qid for q in eval_queries],
        select_qids=[q.qid for q in chosen],
        runs=runs,
    )


def report_metrics(
    predictions: Predictions,
    models: dict[str, Any],
    histories: dict[str, list[float]],
    videos: VideoCorpus,
    data: VideoDataParams,
    evaluate: EvaluateParams,
) -> tuple[HlclipMetrics, plt.Figure, plt.Figure, plt.Figure]:
    """HL mAP / HIT@1 at Fair, Good, VeryGood per arm and w (w* chosen on training queries), mean ± sd over seeds."""
    corpus = open_corpus(videos, data.root)
    by_qid = {q.qid: q for q in corpus.labelled(data.eval_split)}
    eval_queries = [by_qid[q] for q in predictions["eval_qids"]]
    train_by_qid = {q.qid: q for q in corpus.labelled(data.train_split)}
    selection = [train_by_qid[q] for q in predictions["select_qids"]]
    runs = runs_by_arm(predictions["runs"])
    tuned_models = FinetunedModels.parse(models)
    seeds, arms = tuned_models.seeds, list(tuned_models.arms)
    scale = (
        f"{'mini-world videos' if corpus.world() is not None else 'QVHighlights'}: {len(train_by_qid)} "
        f"{data.train_split} queries, {len(eval_queries)} {data.eval_split} queries; arms {', '.join(arms)}; "
        f"{len(seeds)} whole-chain seeds (vl encoder seed s -> fine-tuning seed s); w* chosen on {len(selection)} "
        f"{data.train_split} queries"
    )
    metrics = hlclip_metrics(runs, eval_queries, selection, evaluate.windows, tuned_models, histories, scale)
    tuned, shown = arms[0], eval_queries[: evaluate.picture_queries]
    strips = first_seed_strips(
        shown,
        {q.vid: corpus.frames(q.vid, data.image_size) for q in shown},
        runs,
        tuned,
        seeds[0],
        first_chosen_window(metrics, tuned),
        f"hlclip on {data.eval_split}: ground truth, scores (seed {seeds[0]}, min-max scaled)",
    )
    sweep = window_sweep(metrics, list(runs), evaluate.windows)
    pooling = pooling_figure(
        sweep, "HL mAP (>= VeryGood), %", f"saliency pooling on {data.eval_split}, {len(seeds)} seeds"
    )
    return metrics, strips, pooling, finetuning_figure(histories, "HL-CLIP fine-tuning loss")
