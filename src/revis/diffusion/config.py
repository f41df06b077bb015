"""Configuration of the small UNet (pydantic only: the params schemas import it without torch or diffusers)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class UNetConfig(BaseModel):
    """Architecture of the pixel-space UNet; the data decide the image size, the text encoder the context width."""

    model_config = ConfigDict(extra="forbid", strict=True)

    block_out_channels: list[int] = Field(default=[32, 64, 64], min_length=1, max_length=4)
    # per level (highest resolution first): cross-attention (text) blocks there or plain ResNet blocks
    attention: list[bool] = Field(default=[False, True, True], min_length=1, max_length=4)
    layers_per_block: int = Field(1, ge=1, le=3)
    attention_head_dim: int = Field(32, ge=4, le=128)
    norm_num_groups: int = Field(8, ge=1, le=64)

    @model_validator(mode="after")
    def _levels_agree(self) -> UNetConfig:
        if len(self.attention) != len(self.block_out_channels):
            raise ValueError("attention needs one flag per entry of block_out_channels")
        if any(c % self.norm_num_groups for c in self.block_out_channels):
            raise ValueError("every entry of block_out_channels must be divisible by norm_num_groups")
        return self
