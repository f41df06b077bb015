"""Attention processors for the UNet's attention layers (diffusers ``set_attn_processor``).

``CrossAttentionRecorder`` computes cross-attention exactly as diffusers' ``AttnProcessor`` does
and adds the probabilities (averaged over heads) to a ``CrossAttentionStore``: where in the
image each text token is read, per layer, summed over denoising steps. Other processors (e.g.
orthoemb's projection and self-attention swap) follow the same pattern: a callable taking
``(attn, hidden_states, encoder_hidden_states, attention_mask, temb)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import torch
import torch.nn.functional as F
from diffusers.models.attention_processor import Attention, AttnProcessor


class CrossAttentionStore:
    """Per cross-attention layer: the sum over calls of (B, H*W, L) head-averaged probabilities.

    With classifier-free guidance the batch is [unconditional; conditional]: ``keep`` = "second_half"
    keeps the conditional half only.
    """

    def __init__(self, keep: str = "second_half") -> None:
        if keep not in ("all", "second_half"):
            raise ValueError("keep is 'all' or 'second_half'")
        self.keep = keep
        self.sums: dict[str, torch.Tensor] = {}
        self.calls: dict[str, int] = {}

    def add(self, layer: str, probs: torch.Tensor, heads: int) -> None:
        batch = probs.shape[0] // heads
        p = probs.reshape(batch, heads, *probs.shape[1:]).mean(1).float()
        if self.keep == "second_half":
            p = p[batch // 2 :]
        self.sums[layer] = self.sums[layer] + p if layer in self.sums else p.clone()
        self.calls[layer] = self.calls.get(layer, 0) + 1

    def maps(self, size: int) -> torch.Tensor:
        """(B, L, size, size): every layer's average over calls, upsampled to ``size`` and averaged over layers."""
        if not self.sums:
            raise ValueError("no cross-attention was recorded")
        out = []
        for layer, total in self.sums.items():
            mean = total / self.calls[layer]  # (B, Q, L)
            side = math.isqrt(mean.shape[1])
            grid = mean.transpose(1, 2).reshape(mean.shape[0], mean.shape[2], side, side)
            out.append(F.interpolate(grid, size=(size, size), mode="bilinear", align_corners=False))
        return torch.stack(out).mean(0)

    def reset(self) -> None:
        self.sums.clear()
        self.calls.clear()


class CrossAttentionRecorder(AttnProcessor):
    """diffusers' ``AttnProcessor`` that also records its attention probabilities in a store."""

    def __init__(self, store: CrossAttentionStore, layer: str) -> None:
        super().__init__()
        self.store, self.layer = store, layer

    def __call__(
        self,
        attn: Attention,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        temb: torch.Tensor | None = None,
        *args,
        **kwargs,
    ) -> torch.Tensor:
        residual = hidden_states
        if attn.spatial_norm is not None:
            hidden_states = attn.spatial_norm(hidden_states, temb)
        input_ndim = hidden_states.ndim
        if input_ndim == 4:
            batch_size, channel, height, width = hidden_states.shape
            hidden_states = hidden_states.view(batch_size, channel, height * width).transpose(1, 2)
        batch_size, sequence_length, _ = (
            hidden_states.shape if encoder_hidden_states is None else encoder_hidden_states.shape
        )
        if attention_mask is not None:  # diffusers returns None for None, but types the argument as a tensor
            attention_mask = attn.prepare_attention_mask(attention_mask, sequence_length, batch_size)
        if attn.group_norm is not None:
            hidden_states = attn.group_norm(hidden_states.transpose(1, 2)).transpose(1, 2)
        query = attn.to_q(hidden_states)
        if encoder_hidden_states is None:
            encoder_hidden_states = hidden_states
        elif attn.norm_cross:
            encoder_hidden_states = attn.norm_encoder_hidden_states(encoder_hidden_states)
        key = attn.head_to_batch_dim(attn.to_k(encoder_hidden_states))
        value = attn.head_to_batch_dim(attn.to_v(encoder_hidden_states))
        query = attn.head_to_batch_dim(query)
        probs = attn.get_attention_scores(query, key, attention_mask)
        self.store.add(self.layer, probs.detach(), attn.heads)
        hidden_states = attn.batch_to_head_dim(torch.bmm(probs, value))
        hidden_states = attn.to_out[1](attn.to_out[0](hidden_states))
        if input_ndim == 4:
            hidden_states = hidden_states.transpose(-1, -2).reshape(batch_size, channel, height, width)
        if attn.residual_connection:
            hidden_states = hidden_states + residual
        return hidden_states / attn.rescale_output_factor


ProcessorFactory = Callable[[str], Any]  # layer name (without ".processor") -> its attention processor


def install_processors(
    unet: Any,
    *,
    cross: ProcessorFactory | None = None,
    self_attention: ProcessorFactory | None = None,
    others: ProcessorFactory | None = None,
    base: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Put ``cross(layer)`` on every cross-attention layer (``attn2``), ``self_attention(layer)`` on every
    self-attention layer (``attn1``) and ``others(layer)`` on the layers no other factory covers; a layer without a
    factory keeps its processor of ``base`` (default: the UNet's current ones). Returns the previous processors,
    for ``unet.set_attn_processor(previous)``.

    ``cross=lambda layer: CrossAttentionRecorder(store, layer)`` records cross-attention maps; orthoemb's projection
    (``OrthogonalProjectionProcessor``) and self-attention swap (``SelfAttentionSwapProcessor``) go on the same way.
    """
    previous = dict(unet.attn_processors)
    start = dict(base) if base is not None else previous

    def pick(name: str, processor: Any) -> Any:
        factory = cross if ".attn2." in name else self_attention if ".attn1." in name else None
        factory = factory or others
        return factory(name.rsplit(".processor", 1)[0]) if factory is not None else processor

    unet.set_attn_processor({name: pick(name, processor) for name, processor in start.items()})
    return previous
