"""Zero-shot subject customization with a frozen text-to-image pipeline: visual tokens, projection, swap.

``customize`` generates one image per (prompt, visual tokens, initial noise) with any
combination of the two fixes of orthoemb: the orthogonal projection of the visual rows
(``projection``: none | full | mean, on every cross-attention layer) and the self-attention swap
(a second, visual-only pass whose self-attention keys/values the main pass reads in the chosen
layers and steps). It drives any pipeline whose call takes ``prompt_embeds`` / ``latents``
(``MiniT2IPipeline``; Stable Diffusion's with the same processors). With ``visual`` None the
prompts are plain text (the text-only arm).

Stable Diffusion's call has no ``prompt_attention_mask`` (its ``**kwargs`` would swallow one
silently): its context is CLIP's, padded to 77 rows that the UNet all reads. The driver passes
masks only to a pipeline whose call names them, and refuses a masked context otherwise.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from diffusers.models.attention_processor import AttnProcessor2_0

from revis.diffusion.attention import CrossAttentionRecorder, CrossAttentionStore, install_processors
from revis.diffusion.orthogonal import OrthogonalProjectionProcessor, Projection, VisualTokenState
from revis.diffusion.pipeline import images_to_uint8
from revis.diffusion.subject_encoder import PLACEHOLDER, Composed, compose
from revis.diffusion.swap import SelfAttentionSwapProcessor, SwapController, SwapLayers, self_attention_layers
from revis.diffusion.text import TextEncoder
from revis.diffusion.training import pad_context


@dataclass(frozen=True)
class Arm:
    """One way of generating: text only, or visual tokens with the chosen fixes."""

    name: str
    visual: bool = True
    projection: Projection = "none"
    swap: bool = False


ARMS = {
    "text": Arm("text", visual=False),
    "visual": Arm("visual"),
    "full": Arm("full", projection="full"),
    "mean": Arm("mean", projection="mean"),
    "swap": Arm("swap", swap=True),
    "both": Arm("both", projection="full", swap=True),
}


@dataclass(frozen=True)
class SwapSettings:
    layers: SwapLayers = "decoder"
    start_step: int = 2
    end_step: int | None = None


class ProjectingRecorder(CrossAttentionRecorder):
    """Records cross-attention probabilities of the (projected) context: the maps of the visual tokens."""

    def __init__(self, store: CrossAttentionStore, layer: str, state: VisualTokenState, projection: Projection):
        super().__init__(store, layer)
        self.state, self.projection = state, projection

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None, *a, **kw):
        if encoder_hidden_states is not None:
            encoder_hidden_states = self.state.project(encoder_hidden_states, self.projection)
        return super().__call__(attn, hidden_states, encoder_hidden_states, attention_mask, temb, *a, **kw)


def _pad(composed: Composed, length: int) -> Composed:
    def p(m: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.pad(m, (0, length - m.shape[1]), value=False)

    states, mask = pad_context(composed.states, composed.mask, length)
    return Composed(states, mask, p(composed.visual), p(composed.words), p(composed.special))


def accepts_attention_masks(pipe: Any) -> bool:
    """Whether the pipeline's call names ``prompt_attention_mask`` (the mini model) or not (Stable Diffusion)."""
    return "prompt_attention_mask" in inspect.signature(pipe.__call__).parameters


def context_kwargs(
    pipe: Any, states: torch.Tensor, mask: torch.Tensor, neg_states: torch.Tensor, neg_mask: torch.Tensor
) -> dict[str, torch.Tensor]:
    """The pipeline's context arguments: with masks where it reads them; an error where a mask would be lost."""
    if accepts_attention_masks(pipe):
        return {
            "prompt_embeds": states,
            "prompt_attention_mask": mask,
            "negative_prompt_embeds": neg_states,
            "negative_prompt_attention_mask": neg_mask,
        }
    if not (bool(mask.all()) and bool(neg_mask.all())):
        raise ValueError(
            f"{type(pipe).__name__} reads no attention mask, but the context has padding rows: "
            "use a text encoder that pads to full length (CLIP, as Stable Diffusion does)"
        )
    return {"prompt_embeds": states, "negative_prompt_embeds": neg_states}


@torch.no_grad()
def encode_arm(
    encoder: TextEncoder, prompts: list[str], visual: torch.Tensor | None, swap: bool
) -> tuple[Composed, Composed, Composed | None]:
    """(main, negative (empty prompt), visual-only reference or None), padded to one length."""
    main = compose(encoder, prompts, visual)
    negative = compose(encoder, [""] * len(prompts), None)
    ref = compose(encoder, [PLACEHOLDER] * len(prompts), visual) if swap and visual is not None else None
    length = max(c.states.shape[1] for c in (main, negative, ref) if c is not None)
    return _pad(main, length), _pad(negative, length), None if ref is None else _pad(ref, length)


@torch.no_grad()
def customize(
    pipe: Any,
    encoder: TextEncoder,
    prompts: list[str],
    visual: torch.Tensor | None,
    noise: torch.Tensor,
    arm: Arm,
    *,
    basis_tokens: str = "words",
    swap: SwapSettings = SwapSettings(),
    steps: int = 8,
    guidance_scale: float = 2.5,
    batch_size: int = 64,
    store: CrossAttentionStore | None = None,
) -> np.ndarray:
    """uint8 (N, H, W, 3): prompt i with visual tokens ``visual[i]`` (placeholder ``S*``) from initial noise ``noise[i]``.

    ``store``: record the main pass's cross-attention (over the projected context) there.
    """
    unet = pipe.unet
    if arm.visual and visual is None:
        raise ValueError(f"arm {arm.name} needs visual tokens")
    vis = visual if arm.visual else None
    main, negative, ref = encode_arm(encoder, prompts, vis, arm.swap)
    state = VisualTokenState()
    controller = SwapController(set(self_attention_layers(unet, swap.layers)), swap.start_step, swap.end_step)
    previous = install_processors(
        unet,
        cross=lambda layer: (
            ProjectingRecorder(store, layer, state, arm.projection)
            if store is not None
            else OrthogonalProjectionProcessor(state, arm.projection)
        ),
        self_attention=(lambda layer: SelfAttentionSwapProcessor(controller, layer)) if ref is not None else None,
        others=lambda _: AttnProcessor2_0(),
    )
    if ref is not None:
        controller.attach(unet)
    out = []
    try:
        for start in range(0, len(prompts), batch_size):
            sl = slice(start, start + batch_size)
            n = len(prompts[sl])
            cond_states, cond_mask = main.states[sl], main.mask[sl]
            cond_visual, cond_basis = main.visual[sl], main.basis(basis_tokens)[sl]
            latents = noise[sl].to(unet.device, unet.dtype)
            neg_states, neg_mask = negative.states[sl], negative.mask[sl]
            if ref is not None:
                cond_states = torch.cat([cond_states, ref.states[sl]])
                cond_mask = torch.cat([cond_mask, ref.mask[sl]])
                cond_visual = torch.cat([cond_visual, torch.zeros_like(ref.visual[sl])])  # the reference pass: no fix
                cond_basis = torch.cat([cond_basis, torch.zeros_like(ref.visual[sl])])
                neg_states, neg_mask = torch.cat([neg_states, neg_states]), torch.cat([neg_mask, neg_mask])
                latents = torch.cat([latents, latents])
            guided = guidance_scale > 1.0
            controller.groups = 2 if guided else 1
            if guided:  # the pipeline's batch: [negative ; conditional]
                state.set(
                    torch.cat([torch.zeros_like(cond_visual), cond_visual]),
                    torch.cat([torch.zeros_like(cond_basis), cond_basis]),
                )
            else:
                state.set(cond_visual, cond_basis)
            controller.reset()
            images = pipe(
                **context_kwargs(pipe, cond_states, cond_mask, neg_states, neg_mask),
                latents=latents,
                num_inference_steps=steps,
                guidance_scale=guidance_scale,
                output_type="np",
            ).images
            out.append(images_to_uint8(np.asarray(images))[:n])
    finally:
        controller.detach()
        state.clear()
        unet.set_attn_processor(previous)
    size = unet.config.sample_size
    return np.concatenate(out) if out else np.zeros((0, size, size, 3), dtype=np.uint8)
