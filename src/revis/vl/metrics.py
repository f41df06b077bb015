"""The metrics of ``vl-evaluate``: zero-shot frame -> text retrieval of every seed's encoder, over seeds."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from revis.reporting.summary import mean_std
from revis.vl.checkpoint import load_encoder
from revis.vl.encoder import DualEncoder
from revis.vl.pairs import FrameTextPairs
from revis.vl.retrieval import frame_text_retrieval


@dataclass(frozen=True)
class SeedRetrieval:
    """Per measure (``r<k>``, ``chance_r<k>``, ``gallery``, ``queries``, ``temperature``): one value per seed."""

    seeds: list[int]
    values: dict[str, list[float]]


@dataclass(frozen=True)
class VlMetrics:
    """``reports/vl/metrics.json`` of an encoder that was not trained here (a local CLIP)."""

    zero_shot: dict[str, dict[str, Any]]  # r<k> -> mean_std over seeds (fractions)
    chance: dict[str, float]  # r<k> -> k / gallery texts
    gallery_texts: int
    query_frames: int
    temperature: dict[str, Any]
    scale: str


@dataclass(frozen=True)
class TrainedVlMetrics(VlMetrics):
    """:class:`VlMetrics` of encoders pretrained here, with their final loss."""

    final_loss: dict[str, Any]  # mean of the last 20 steps' losses, mean_std over seeds


def zero_shot_by_seed(
    checkpoints: Mapping[str, dict[str, Any]],
    seeds: Sequence[int],
    pairs: FrameTextPairs,
    ks: Sequence[int],
    device: torch.device | str,
) -> tuple[SeedRetrieval, DualEncoder]:
    """R@k of every pair's frame retrieving its content's text, per seed's encoder; and the first seed's encoder."""
    texts_by_key = pairs.texts_by_key()
    values: dict[str, list[float]] = {}
    first: DualEncoder | None = None
    for seed in seeds:
        encoder = load_encoder(checkpoints[f"seed{seed}"], device)
        frame_z = encoder.embed_images(pairs.frames)
        text_z = encoder.embed_texts(list(texts_by_key.values()))
        result = frame_text_retrieval(frame_z, pairs.keys, texts_by_key, text_z, ks)
        for name, value in result.items():
            values.setdefault(name, []).append(value)
        values.setdefault("temperature", []).append(encoder.temperature)
        first = encoder if first is None else first
    if first is None:
        raise ValueError("zero_shot_by_seed needs at least one seed")
    return SeedRetrieval(list(seeds), values), first


def describe_model(config: Mapping[str, Any]) -> str:
    """The encoder of a ``vl.encoders`` bundle in words (its ``config``)."""
    if config["kind"] != "tiny":
        return f"CLIP from {config['clip_path']}"
    image = config["image"]
    return (
        f"{image['name']} w{image['width']} d{image['depth']} p{image['patch']}"
        f" + MiniLM-L6 (frozen) with a {config['text_head']} head, {config['embed_dim']}-d"
    )


def vl_metrics(
    retrieval: SeedRetrieval,
    ks: Sequence[int],
    histories: Mapping[str, Mapping[str, list[float]]],
    where: str,
    model: str,
) -> VlMetrics:
    """Mean +- sd over seeds of R@k and the temperature; chance and sizes; the final loss when trained here."""
    per_seed, seeds = retrieval.values, retrieval.seeds
    gallery, queries = int(per_seed["gallery"][0]), int(per_seed["queries"][0])
    common: dict[str, Any] = {
        "zero_shot": {f"r{k}": mean_std(per_seed[f"r{k}"], seeds) for k in ks},
        "chance": {f"r{k}": per_seed[f"chance_r{k}"][0] for k in ks},
        "gallery_texts": gallery,
        "query_frames": queries,
        "temperature": mean_std(per_seed["temperature"], seeds),
        "scale": f"{where}: {queries} frames vs {gallery} distinct texts; {model}; {len(seeds)} seeds",
    }
    if not histories:
        return VlMetrics(**common)
    final = [float(np.mean(histories[f"seed{s}"]["loss"][-20:])) for s in seeds]
    return TrainedVlMetrics(**common, final_loss=mean_std(final, seeds))
