"""``vl-evaluate``: zero-shot frame -> text retrieval on held-out videos, per seed; pictures."""

from __future__ import annotations

import matplotlib.pyplot as plt

from revis.config.runtime import ComputeParams
from revis.datasets.qvhighlights import VideoCorpus, open_corpus
from revis.pipelines.vl.params import EvaluateParams
from revis.runtime import apply_runtime
from revis.vl.checkpoint import EncoderBundle
from revis.vl.config import VideoDataParams
from revis.vl.metrics import VlMetrics, describe_model, vl_metrics, zero_shot_by_seed
from revis.vl.pairs import frame_text_pairs
from revis.vl.pictures import pretraining_figure, zero_shot_matrix_figure


def report_metrics(
    encoders: EncoderBundle,
    histories: dict[str, dict[str, list[float]]],
    videos: VideoCorpus,
    data: VideoDataParams,
    compute: ComputeParams,
    evaluate: EvaluateParams,
) -> tuple[VlMetrics, plt.Figure, plt.Figure]:
    """R@k of every held-out frame retrieving its content's text, mean ± sd over encoder seeds."""
    device = apply_runtime(compute.device, compute.threads)
    corpus = open_corpus(videos, data.root)
    pairs = frame_text_pairs(corpus, data.eval_split, data.image_size)
    seeds = list(encoders["seeds"])
    retrieval, first = zero_shot_by_seed(encoders["checkpoints"], seeds, pairs, evaluate.ks, device)
    where = f"{'mini-world' if corpus.world() else 'QVHighlights'} {data.eval_split}"
    metrics = vl_metrics(retrieval, evaluate.ks, histories, where, describe_model(encoders["config"]))
    matrix = zero_shot_matrix_figure(first, pairs, evaluate.matrix_size, f"seed {seeds[0]}, {data.eval_split} split")
    title = "vl: contrastive pretraining" if histories else "vl: pretrained CLIP (no training)"
    return metrics, matrix, pretraining_figure(histories, title)
