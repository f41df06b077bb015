"""``merlin-features``: gallery (pooled frame embeddings) and query embeddings per whole-chain seed."""

from __future__ import annotations

from revis.config.runtime import ComputeParams
from revis.datasets.qvhighlights import VideoCorpus
from revis.pipelines.merlin.params import FeaturesParams
from revis.retrieval.bundles import MerlinFeatures
from revis.retrieval.features import GallerySettings, world_features
from revis.runtime import apply_runtime
from revis.vl.checkpoint import EncoderBundle


def embed_gallery_and_queries(
    encoders: EncoderBundle, videos: VideoCorpus, seeds: list[int], compute: ComputeParams, features: FeaturesParams
) -> MerlinFeatures:
    """Per seed s (vl encoder s, query sample s): pooled gallery embeddings (mean and attention) and queries."""
    device = apply_runtime(compute.device, compute.threads)
    if features.real is not None:  # the paper-scale overlay: a real benchmark
        from revis.retrieval.real_loop import RealSource, load_real

        return load_real(RealSource(**features.real.model_dump()), device)
    settings = GallerySettings(
        splits=features.splits,
        frame_stride=features.frame_stride,
        pooling=features.pooling,
        attention_temperature=features.attention_temperature,
        queries=features.queries,
        levels=features.levels,
        background=features.background,
    )
    return world_features(encoders, videos, seeds, settings, device)
