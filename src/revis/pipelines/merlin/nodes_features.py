"""``merlin-features``: gallery (pooled frame embeddings) and query embeddings per whole-chain seed."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from revis.datasets.qvhighlights import VideoCorpus
from revis.pipelines.merlin.params import FeaturesParams
from revis.retrieval.embedding import encoders_by_seed, pool_frames
from revis.retrieval.queries import sample_queries
from revis.runtime import apply_runtime


def embed_gallery_and_queries(
    encoders: dict[str, Any], videos: VideoCorpus, features: FeaturesParams
) -> dict[str, Any]:
    """Per seed s (vl encoder s, query sample s): pooled gallery embeddings (mean and attention) and queries."""
    device = apply_runtime(features.device)
    if features.real is not None:
        from revis.retrieval.real_data import load_benchmark

        return load_benchmark(
            features.real.dataset, features.real.annotations, features.real.embeddings, features.real.limit
        )
    missing = [s for s in features.seeds if f"seed{s}" not in encoders["checkpoints"]]
    if missing:
        raise ValueError(f"merlin.features.seeds {missing} have no vl encoder (vl.train.seeds: {encoders['seeds']})")
    world = videos.world()
    meta = world["videos"]
    gallery = sorted(vid for vid, m in meta.items() if m["split"] in features.splits)
    if not gallery:
        raise ValueError(f"no videos in splits {features.splits}")
    clips = [videos.frames(vid)[:: features.frame_stride] for vid in gallery]
    offsets = np.cumsum([0] + [len(c) for c in clips])
    frames = np.concatenate(clips)
    per_seed: dict[str, Any] = {}
    for seed, encoder in encoders_by_seed(encoders, features.seeds, device):
        frame_z = encoder.embed_images(frames).numpy()
        pooled = {
            how: np.stack(
                [
                    pool_frames(frame_z[offsets[i] : offsets[i + 1]], how, features.attention_temperature)
                    for i in range(len(gallery))
                ]
            )
            for how in ("mean", "attention")
        }
        queries = sample_queries(meta, gallery, features.queries, features.levels, seed)
        query_z = encoder.embed_texts([q.text for q in queries]).numpy()
        per_seed[f"seed{seed}"] = {
            "gallery": torch.from_numpy(pooled[features.pooling]),
            "gallery_other": torch.from_numpy(pooled["attention" if features.pooling == "mean" else "mean"]),
            "queries": [q.to_dict() for q in queries],
            "query_z": torch.from_numpy(query_z),
        }
    return {
        "kind": "world",
        "seeds": list(features.seeds),
        "pooling": features.pooling,
        "vids": gallery,
        "captions": [meta[vid]["caption"] for vid in gallery],
        "per_seed": per_seed,
    }
