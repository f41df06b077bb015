"""``merlin.features`` as the features stage persists it: dicts of tensors and plain containers (``TorchDataset``
loads them with ``weights_only=True``), typed here so the stages that write and read them agree on the keys."""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict

import torch


class SeedFeatures(TypedDict):
    """One whole-chain seed's gallery (pooled one way and the other) and query sample with its embeddings."""

    gallery: torch.Tensor  # videos x dim, pooled with the bundle's ``pooling``
    gallery_other: torch.Tensor  # ... with the other pooling
    queries: list[dict[str, Any]]  # Query.to_dict()
    query_z: torch.Tensor


class WorldFeatures(TypedDict):
    """``merlin.features`` of the mini world (``revis.retrieval.features.world_features``)."""

    kind: Literal["world"]
    seeds: list[int]
    pooling: Literal["mean", "attention"]
    vids: list[str]  # the gallery, in order
    captions: list[str]
    per_seed: dict[str, SeedFeatures]  # "seed<s>" -> features


class RealFeatures(TypedDict):
    """``merlin.features`` of a real benchmark (``revis.retrieval.real_loop.load_real``): query ``i``
    targets video ``targets[i]``; one seed (pre-extracted or local CLIP embeddings: nothing is seeded)."""

    kind: Literal["real"]
    dataset: str
    seeds: list[int]
    vids: list[str]
    captions: list[str]
    targets: list[int]
    query_z: torch.Tensor
    gallery: torch.Tensor
    # with videos and a local CLIP (``revis.retrieval.real_loop``): what the interactive loop needs
    frame_z: NotRequired[list[torch.Tensor]]  # per video, its frames' CLIP embeddings
    clip_path: NotRequired[str]
    anchor_captions: NotRequired[list[str]]  # given captions ("" where none: described from the frames)


MerlinFeatures = WorldFeatures | RealFeatures  # ``merlin.features``, told apart by ``kind``
