"""``vl-evaluate``: zero-shot frame -> text retrieval on held-out videos, per seed; pictures."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from revis.datasets.qvhighlights import VideoCorpus, open_corpus
from revis.pipelines.vl.params import DataParams, EvaluateParams
from revis.reporting.summary import mean_std
from revis.runtime import apply_runtime
from revis.vl.checkpoint import load_encoder
from revis.vl.pairs import frame_text_pairs
from revis.vl.pictures import pretraining_figure, similarity_figure
from revis.vl.retrieval import frame_text_retrieval


def evaluate_encoders(
    encoders: dict[str, Any],
    histories: dict[str, Any],
    videos: VideoCorpus,
    data: DataParams,
    evaluate: EvaluateParams,
) -> tuple[dict[str, Any], plt.Figure, plt.Figure]:
    """R@k of every held-out frame retrieving its content's text, mean ± sd over encoder seeds."""
    device = apply_runtime(evaluate.device, 1)
    corpus = open_corpus(videos, data.root)
    pairs = frame_text_pairs(corpus, data.eval_split, data.image_size)
    texts_by_key = pairs.texts_by_key()
    seeds = list(encoders["seeds"])
    per_seed: dict[str, list[float]] = {}
    figure = None
    for seed in seeds:
        encoder = load_encoder(encoders["checkpoints"][f"seed{seed}"], device)
        frame_z = encoder.embed_images(pairs.frames)
        text_z = encoder.embed_texts(list(texts_by_key.values()))
        result = frame_text_retrieval(frame_z, pairs.keys, texts_by_key, text_z, evaluate.ks)
        for name, value in result.items():
            per_seed.setdefault(name, []).append(value)
        per_seed.setdefault("temperature", []).append(encoder.temperature)
        if figure is None:
            figure = _matrix(encoder, pairs, evaluate.matrix_size, f"seed {seed}, {data.eval_split} split")
    metrics: dict[str, Any] = {
        "zero_shot": {f"r{k}": mean_std(per_seed[f"r{k}"], seeds) for k in evaluate.ks},
        "chance": {f"r{k}": per_seed[f"chance_r{k}"][0] for k in evaluate.ks},
        "gallery_texts": int(per_seed["gallery"][0]),
        "query_frames": int(per_seed["queries"][0]),
        "temperature": mean_std(per_seed["temperature"], seeds),
    }
    if histories:
        metrics["final_loss"] = mean_std([float(np.mean(histories[f"seed{s}"]["loss"][-20:])) for s in seeds], seeds)
    config = encoders["config"]
    model = (
        f"{config['image']['name']} w{config['image']['width']} d{config['image']['depth']} p{config['image']['patch']}"
        f" + MiniLM-L6 (frozen) with a {config['text_head']} head, {config['embed_dim']}-d"
        if config["kind"] == "tiny"
        else f"CLIP from {config['clip_path']}"
    )
    metrics["scale"] = (
        f"{'mini-world' if corpus.world() else 'QVHighlights'} {data.eval_split}: {metrics['query_frames']} frames vs "
        f"{metrics['gallery_texts']} distinct texts; {model}; {len(seeds)} seeds"
    )
    title = "vl: contrastive pretraining" if histories else "vl: pretrained CLIP (no training)"
    return metrics, figure, pretraining_figure(histories, title)


def _matrix(encoder: Any, pairs: Any, size: int, where: str) -> plt.Figure:
    """Similarity of one frame per distinct content with each content's text (the first ``size`` contents)."""
    first: dict[str, int] = {}
    for index, key in enumerate(pairs.keys):
        first.setdefault(key, index)
    chosen = list(first.values())[:size]
    frames = pairs.frames[chosen]
    texts = [pairs.texts[i] for i in chosen]
    similarity = (encoder.embed_images(frames) @ encoder.embed_texts(texts).T).numpy()
    return similarity_figure(frames, texts, similarity, f"vl zero-shot: frames x their descriptions ({where})")
