"""orthoemb's self-attention swap (MasaCtrl-style mutual self-attention) as a diffusers attention processor.

The batch the UNet sees holds, per guidance half, the main samples and then as many reference
samples (the second pass, conditioned on the visual-only embedding, same initial noise)::

    [uncond main (n) ; uncond ref (n) ; cond main (n) ; cond ref (n)]      (groups = 2)

In a swapped self-attention layer (``attn1``) and step, the main samples' queries attend to the
*reference* samples' keys and values (MasaCtrl's ``MutualSelfAttentionControl``: the target
reads the source's K/V), so the subject's appearance flows from the clean visual-only pass into
the main one; the reference samples attend to themselves as usual. Elsewhere the processor is
diffusers' ``AttnProcessor2_0`` unchanged.

Which layers and which steps are swapped is unverified in the paper; they are parameters
(default: decoder self-attention, from the third sampler step on).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch
import torch.nn.functional as F
from diffusers.models.attention_processor import Attention, AttnProcessor2_0

SwapLayers = Literal["decoder", "encoder", "mid", "all"]
PREFIXES = {"decoder": ("up_blocks",), "encoder": ("down_blocks",), "mid": ("mid_block",)}


def self_attention_layers(unet, where: SwapLayers) -> list[str]:
    """Names (without ``.processor``) of the UNet's self-attention layers in the chosen part."""
    names = [n.rsplit(".processor", 1)[0] for n in unet.attn_processors if ".attn1." in n]
    if where == "all":
        return names
    return [n for n in names if n.startswith(PREFIXES[where])]


@dataclass
class SwapController:
    """Which layers swap, in which sampler steps ``[start_step, end_step)``; counts UNet calls as steps.

    ``attach(unet)`` registers a forward pre-hook that advances ``step`` on every UNet call; call
    ``reset()`` before each generation. ``enabled`` False turns every swap off (the main and the
    reference pass then run side by side, untouched). ``log`` records (step, layer) of each swap.
    """

    layers: set[str]
    start_step: int = 2
    end_step: int | None = None
    groups: int = 2  # guidance halves in the batch (1 without classifier-free guidance)
    enabled: bool = True
    step: int = -1
    log: list[tuple[int, str]] = field(default_factory=list)
    _hook: object | None = field(default=None, repr=False)

    def active(self, layer: str) -> bool:
        if not self.enabled or layer not in self.layers or self.step < self.start_step:
            return False
        return self.end_step is None or self.step < self.end_step

    def reset(self) -> None:
        self.step, self.log = -1, []

    def attach(self, unet) -> None:
        def advance(module, args, kwargs):
            self.step += 1

        self.detach()
        self._hook = unet.register_forward_pre_hook(advance, with_kwargs=True)

    def detach(self) -> None:
        if self._hook is not None:
            self._hook.remove()  # type: ignore[attr-defined]
            self._hook = None


def swap_keys_values(tensor: torch.Tensor, groups: int) -> torch.Tensor:
    """(B, N, C) with B = groups x 2 x n: every main row of a group replaced by the matching reference row."""
    b = tensor.shape[0]
    if b % (2 * groups):
        raise ValueError(f"batch {b} is not {groups} groups of (main, reference) pairs")
    n = b // (2 * groups)
    view = tensor.reshape(groups, 2, n, *tensor.shape[1:])
    return torch.stack([view[:, 1], view[:, 1]], 1).reshape(tensor.shape)


class SelfAttentionSwapProcessor(AttnProcessor2_0):
    """Self-attention whose main samples read the reference samples' keys and values when the controller says so."""

    def __init__(self, controller: SwapController, layer: str) -> None:
        super().__init__()
        self.controller, self.layer = controller, layer

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
        if encoder_hidden_states is not None or not self.controller.active(self.layer):
            return super().__call__(attn, hidden_states, encoder_hidden_states, attention_mask, temb, *args, **kwargs)
        self.controller.log.append((self.controller.step, self.layer))
        residual = hidden_states
        if attn.spatial_norm is not None:
            hidden_states = attn.spatial_norm(hidden_states, temb)
        input_ndim = hidden_states.ndim
        if input_ndim == 4:
            batch_size, channel, height, width = hidden_states.shape
            hidden_states = hidden_states.view(batch_size, channel, height * width).transpose(1, 2)
        batch_size, sequence_length, _ = hidden_states.shape
        if attention_mask is not None:  # diffusers returns None for None, but types the argument as a tensor
            attention_mask = attn.prepare_attention_mask(attention_mask, sequence_length, batch_size)
        if attn.group_norm is not None:
            hidden_states = attn.group_norm(hidden_states.transpose(1, 2)).transpose(1, 2)
        query = attn.to_q(hidden_states)
        key = swap_keys_values(attn.to_k(hidden_states), self.controller.groups)
        value = swap_keys_values(attn.to_v(hidden_states), self.controller.groups)
        query, key, value = attn.head_to_batch_dim(query), attn.head_to_batch_dim(key), attn.head_to_batch_dim(value)
        hidden_states = F.scaled_dot_product_attention(query, key, value, attn_mask=attention_mask, scale=attn.scale)
        hidden_states = attn.batch_to_head_dim(hidden_states)
        hidden_states = attn.to_out[1](attn.to_out[0](hidden_states))
        if input_ndim == 4:
            hidden_states = hidden_states.transpose(-1, -2).reshape(batch_size, channel, height, width)
        if attn.residual_connection:
            hidden_states = hidden_states + residual
        return hidden_states / attn.rescale_output_factor
