"""Build an encoder from its config, save it as a plain checkpoint dict, load it back.

A checkpoint is ``{"config": EncoderConfig as a dict, "state_dict": {name: tensor}, "meta": {...}}``
(``torch.save``-able, loads with ``weights_only=True``). Weights that come from a pretrained
source on disk -- MiniLM in the tiny encoder, all of CLIP -- are *not* stored unless they were
trained: ``load_encoder`` rebuilds the source and overlays the stored tensors, and refuses a
checkpoint whose tensors do not fit.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TypedDict

import torch

from revis.datasets.imageset import DataError
from revis.vl.config import EncoderConfig
from revis.vl.encoder import DualEncoder


class EncoderBundle(TypedDict):
    """``vl.encoders``: one checkpoint per whole-chain seed (``checkpoints["seed<s>"]``) and the config they share."""

    config: dict[str, Any]  # EncoderConfig as a dict
    seeds: list[int]
    checkpoints: dict[str, dict[str, Any]]


# state-dict prefixes of weights loaded from a pretrained source, per encoder kind
SOURCE_PREFIXES = {"tiny": ("text.bert.",), "clip": ("image.", "text.")}


def build_encoder(config: EncoderConfig | dict[str, Any]) -> DualEncoder:
    """A fresh encoder: random image tower + MiniLM (tiny), or the local CLIP (clip)."""
    config = config if isinstance(config, EncoderConfig) else EncoderConfig.model_validate(config)
    if config.kind == "clip":
        from revis.vl.clip import load_clip_towers

        if config.clip_path is None:  # EncoderConfig's validator requires it for kind clip
            raise DataError("vl.encoder.kind 'clip' needs clip_path")
        image, text, logit_scale = load_clip_towers(config.clip_path)
        return DualEncoder(image, text, logit_scale)
    from revis.models import ModelConfig
    from revis.vl.towers import ImageTower, MiniLMTower

    chosen = config.image
    backbone = ModelConfig.model_validate(
        {"name": chosen.name, "width": chosen.width, "depth": chosen.depth, "patch": chosen.patch}
    )
    return DualEncoder(
        ImageTower(backbone, config.image_size, config.embed_dim),
        MiniLMTower(config.embed_dim, config.text_head, config.text_path, config.max_text_length),
        math.log(1.0 / config.temperature),
    )


def _from_source(name: str, kind: str) -> bool:
    return name.startswith(SOURCE_PREFIXES[kind])


def encoder_checkpoint(
    encoder: DualEncoder,
    config: EncoderConfig | dict[str, Any],
    trained: Iterable[str] = (),
    meta: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The checkpoint dict: every tensor not loaded from a pretrained source, plus the ``trained`` ones."""
    config = config if isinstance(config, EncoderConfig) else EncoderConfig.model_validate(config)
    trained = set(trained)
    state = {
        name: tensor.detach().cpu().clone()
        for name, tensor in encoder.state_dict().items()
        if not _from_source(name, config.kind) or name in trained
    }
    return {"config": config.model_dump(), "state_dict": state, "meta": dict(meta or {})}


def trainable_names(encoder: DualEncoder) -> list[str]:
    """Names of the parameters that currently require gradients (what a fine-tuning changed)."""
    return [name for name, p in encoder.named_parameters() if p.requires_grad]


def load_encoder(checkpoint: dict[str, Any] | str | os.PathLike, device: str | torch.device = "cpu") -> DualEncoder:
    """Rebuild an encoder from a checkpoint dict (or a file written with ``torch.save``)."""
    if not isinstance(checkpoint, dict):
        path = Path(checkpoint)
        try:
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        except FileNotFoundError:
            raise DataError(f"missing encoder checkpoint {path}") from None
    if not isinstance(checkpoint, dict) or "config" not in checkpoint or "state_dict" not in checkpoint:
        raise DataError("an encoder checkpoint is a dict with 'config' and 'state_dict'")
    config = EncoderConfig.model_validate(checkpoint["config"])
    encoder = build_encoder(config)
    try:
        result = encoder.load_state_dict(checkpoint["state_dict"], strict=False)
    except RuntimeError as exc:  # shapes that do not fit
        raise DataError(f"encoder checkpoint does not fit its config: {str(exc)[:300]}") from exc
    missing = [k for k in result.missing_keys if not _from_source(k, config.kind)]
    if missing or result.unexpected_keys:
        raise DataError(
            f"encoder checkpoint does not fit its config: missing {missing[:5]}, unexpected {result.unexpected_keys[:5]}"
        )
    return encoder.to(device)
