"""orthoemb's orthogonal visual embedding, as a cross-attention processor (diffusers ``set_attn_processor``).

Cross-attention reads ``[c_t ; c_v]``: the text encoder's states of the text tokens and of the
visual pseudo-tokens, computed together. For each visual row (Song et al. 2024, arXiv 2403.14155)::

    full:  Q = orthonormal basis (reduced QR) of span{c_t,j : j in the basis tokens}
           c_v,i <- c_v,i - Q Q^T c_v,i
    mean:  the rank-one variant with u = mean_j c_t,j / ||mean_j c_t,j||
           c_v,i <- c_v,i - (u . c_v,i) u
    none:  c_v,i unchanged (the stock processor, bit for bit)

The public code's variant "subtracts a mean"; ``mean`` is our reading of it (unverified). Which
text tokens span Q is not stated in the paper: the caller marks them (``basis_mask``), by
default the prompt's word tokens without [CLS]/[SEP] and without the visual tokens.

The processor learns which rows are visual and which span the basis from a
``VisualTokenState`` that the caller fills for the batch it is about to run (the rows of the
classifier-free guidance batch, unconditional half first). It projects ``encoder_hidden_states``
and then computes attention exactly as diffusers' ``AttnProcessor2_0`` (scaled dot-product attention); on Stable Diffusion
1.x / BLIP-Diffusion the same processor goes on every ``attn2``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch
import torch.nn.functional as F
from diffusers.models.attention_processor import Attention, AttnProcessor2_0

Projection = Literal["none", "full", "mean"]


def text_basis(text_rows: torch.Tensor, mode: Projection) -> torch.Tensor | None:
    """(D, r) orthonormal columns spanning the text rows (m, D) for ``full``, their mean direction for ``mean``."""
    if mode == "none" or text_rows.shape[0] == 0:
        return None
    rows = text_rows.double()
    if mode == "full":
        q, r = torch.linalg.qr(rows.T, mode="reduced")  # (D, m): columns span the rows
        keep = r.diagonal().abs() > 1e-8 * max(1.0, float(r.diagonal().abs().max()))  # drop dependent rows
        return q[:, keep]
    if mode == "mean":
        mean = rows.mean(0)
        norm = mean.norm()
        return None if norm < 1e-12 else (mean / norm)[:, None]
    raise ValueError(f"unknown projection {mode!r}: none, full or mean")


def project_visual_rows(
    states: torch.Tensor, visual_mask: torch.Tensor, basis_mask: torch.Tensor, mode: Projection
) -> torch.Tensor:
    """``states`` (B, L, D) with every visual row replaced by its component orthogonal to that sample's text basis.

    ``visual_mask`` / ``basis_mask`` (B, L) bool: the visual rows, and the text rows that span the basis.
    Rows of samples without visual or basis rows (e.g. the unconditional half) are returned unchanged.
    """
    if mode == "none":
        return states
    if visual_mask.shape != states.shape[:2] or basis_mask.shape != states.shape[:2]:
        raise ValueError(
            f"masks {tuple(visual_mask.shape)} / {tuple(basis_mask.shape)} for states {tuple(states.shape)}"
        )
    if bool((visual_mask & basis_mask).any()):
        raise ValueError("a row cannot be visual and span the text basis at once")
    out = states.clone()
    for b in range(states.shape[0]):
        rows = visual_mask[b]
        if not bool(rows.any()):
            continue
        q = text_basis(states[b, basis_mask[b]], mode)
        if q is None:
            continue
        v = states[b, rows].double()
        out[b, rows] = (v - (v @ q) @ q.T).to(states.dtype)
    return out


@dataclass
class VisualTokenState:
    """Which context rows are visual tokens and which span the text basis, for the batch about to run.

    Shapes (B, L) matching ``encoder_hidden_states``. ``projected`` caches the last projection
    (every cross-attention layer of one UNet call reads the same context tensor).
    """

    visual_mask: torch.Tensor | None = None
    basis_mask: torch.Tensor | None = None
    _cache: tuple[int, int, torch.Tensor] | None = field(default=None, repr=False)

    def set(self, visual_mask: torch.Tensor, basis_mask: torch.Tensor) -> None:
        self.visual_mask, self.basis_mask, self._cache = visual_mask.bool(), basis_mask.bool(), None

    def clear(self) -> None:
        self.visual_mask = self.basis_mask = self._cache = None

    def project(self, states: torch.Tensor, mode: Projection) -> torch.Tensor:
        if mode == "none" or self.visual_mask is None:
            return states
        key = (id(states), states._version)
        if self._cache is not None and self._cache[:2] == key:
            return self._cache[2]
        assert self.basis_mask is not None
        out = project_visual_rows(states, self.visual_mask.to(states.device), self.basis_mask.to(states.device), mode)
        self._cache = (key[0], key[1], out)
        return out


class OrthogonalProjectionProcessor(AttnProcessor2_0):
    """Cross-attention that reads ``[c_t ; c_v⊥]``: diffusers' ``AttnProcessor2_0`` (SDPA) after projecting the visual rows."""

    def __init__(self, state: VisualTokenState, projection: Projection = "full") -> None:
        super().__init__()
        if projection not in ("none", "full", "mean"):
            raise ValueError(f"unknown projection {projection!r}: none, full or mean")
        self.state, self.projection = state, projection

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
        if encoder_hidden_states is not None and self.projection != "none":
            encoder_hidden_states = self.state.project(encoder_hidden_states, self.projection)
        return super().__call__(attn, hidden_states, encoder_hidden_states, attention_mask, temb, *args, **kwargs)


def orthogonality_residual(states: torch.Tensor, visual_mask: torch.Tensor, basis_mask: torch.Tensor) -> float:
    """max |<c_v, c_t>| / (|c_v| |c_t|) over visual rows and basis rows: 0 when every visual row is orthogonal to the span."""
    worst = 0.0
    for b in range(states.shape[0]):
        v, t = states[b, visual_mask[b]].double(), states[b, basis_mask[b]].double()
        if len(v) and len(t):
            cos = F.normalize(v, dim=-1) @ F.normalize(t, dim=-1).T
            worst = max(worst, float(cos.abs().max()))
    return worst
