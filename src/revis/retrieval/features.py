"""``merlin.features`` of the mini world: per whole-chain seed, the gallery (pooled frame embeddings of
every held-out video, mean and attention) and a query sample with its embeddings."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from revis.datasets.qvhighlights import VideoCorpus
from revis.retrieval.bundles import SeedFeatures, WorldFeatures
from revis.retrieval.embedding import Pooling, encoders_by_seed, pool_frames
from revis.retrieval.queries import sample_queries

POOLINGS: tuple[Pooling, ...] = ("mean", "attention")


@dataclass(frozen=True)
class GallerySettings:
    """Which videos form the gallery, how frames are pooled, how many queries of which vagueness."""

    splits: Sequence[str]
    frame_stride: int
    pooling: Pooling
    attention_temperature: float
    queries: int
    levels: Sequence[int]
    background: float = 0.0  # share of queries that also name where the video takes place


def _pooled(frame_z: np.ndarray, offsets: np.ndarray, videos: int, how: Pooling, temperature: float) -> np.ndarray:
    return np.stack([pool_frames(frame_z[offsets[i] : offsets[i + 1]], how, temperature) for i in range(videos)])


def world_features(
    encoders: Mapping[str, Any],
    videos: VideoCorpus,
    seeds: Sequence[int],
    settings: GallerySettings,
    device: torch.device | str,
) -> WorldFeatures:
    """``{"kind": "world", "seeds", "pooling", "vids", "captions", "per_seed": {"seed<s>": {"gallery",
    "gallery_other", "queries", "query_z"}}}`` (tensors and plain containers: ``TorchDataset`` round-trips it)."""
    missing = [s for s in seeds if f"seed{s}" not in encoders["checkpoints"]]
    if missing:
        raise ValueError(f"merlin.seeds {missing} have no vl encoder (vl.seeds: {encoders['seeds']})")
    world = videos.world()
    if world is None:
        raise ValueError("merlin's gallery needs the mini world's videos (world.json)")
    meta = world["videos"]
    gallery = sorted(vid for vid, m in meta.items() if m["split"] in settings.splits)
    if not gallery:
        raise ValueError(f"no videos in splits {settings.splits}")
    clips = [videos.frames(vid)[:: settings.frame_stride] for vid in gallery]
    offsets = np.cumsum([0] + [len(c) for c in clips])
    frames = np.concatenate(clips)
    other = "attention" if settings.pooling == "mean" else "mean"
    per_seed: dict[str, SeedFeatures] = {}
    for seed, encoder in encoders_by_seed(encoders, seeds, device):
        frame_z = encoder.embed_images(frames).numpy()
        pooled: dict[str, np.ndarray] = {
            how: _pooled(frame_z, offsets, len(gallery), how, settings.attention_temperature) for how in POOLINGS
        }
        queries = sample_queries(meta, gallery, settings.queries, list(settings.levels), seed, settings.background)
        query_z = encoder.embed_texts([q.text for q in queries]).numpy()
        per_seed[f"seed{seed}"] = {
            "gallery": torch.from_numpy(pooled[settings.pooling]),
            "gallery_other": torch.from_numpy(pooled[other]),
            "queries": [q.to_dict() for q in queries],
            "query_z": torch.from_numpy(query_z),
        }
    return {
        "kind": "world",
        "seeds": list(seeds),
        "pooling": settings.pooling,
        "vids": gallery,
        "captions": [meta[vid]["caption"] for vid in gallery],
        "per_seed": per_seed,
    }
