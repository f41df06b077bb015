"""Where the UNet reads a negated object's tokens: cross-attention shares and their overlap with the drawn object.

``maps``: (B, L, H, W) cross-attention probabilities (head-, layer- and step-averaged, from
``revis.diffusion.attention.CrossAttentionStore.maps``); at every pixel they sum to 1 over the
L tokens.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from revis.diffusion.attention import CrossAttentionRecorder, CrossAttentionStore, install_processors
from revis.diffusion.generate import generate
from revis.negation.prompts import Prompt
from revis.world.judge import judge_images


def phrase_positions(input_ids: list[int], phrase_ids: list[int]) -> list[int]:
    """Token positions of the last occurrence of ``phrase_ids`` in ``input_ids`` (empty when absent)."""
    for start in range(len(input_ids) - len(phrase_ids), -1, -1):
        if input_ids[start : start + len(phrase_ids)] == phrase_ids:
            return list(range(start, start + len(phrase_ids)))
    return []


def attention_share(maps: torch.Tensor, positions: list[int]) -> np.ndarray:
    """(B,): the share of all cross-attention (over pixels) that goes to the tokens at ``positions``."""
    if not positions:
        return np.zeros(maps.shape[0])
    return (maps[:, positions].sum(1).mean((1, 2))).numpy()


def attention_on_mask(maps: torch.Tensor, positions: list[int], masks: np.ndarray) -> np.ndarray:
    """(B,) for images with a non-empty mask (NaN otherwise): the tokens' mean attention inside the mask
    divided by their mean attention over the whole image (> 1: read where the object is drawn)."""
    if not positions:
        return np.full(maps.shape[0], np.nan)
    attention = maps[:, positions].sum(1).numpy()  # (B, H, W)
    out = np.full(len(attention), np.nan)
    for i, (a, m) in enumerate(zip(attention, masks)):
        if m.any() and a.mean() > 0:
            out[i] = float(a[m].mean() / a.mean())
    return out


@dataclass(frozen=True)
class PromptAttention:
    """Cross-attention of one attack prompt: per token group (word, "without", object) the share per image, the
    object tokens' density on the drawn object, and a panel (the first images and their maps) for the figure."""

    shares: dict[str, list[float]]
    object_on_drawn: list[float | None]
    images_with_object: int
    tokens: dict[str, int]
    panel: dict[str, Any]

    def record(self) -> dict[str, Any]:
        """The pair's entry of the evaluation's ``attention["pairs"]``."""
        return {
            "shares": self.shares,
            "object_on_drawn": self.object_on_drawn,
            "images_with_object": self.images_with_object,
            "tokens": self.tokens,
        }


def token_groups(tokenizer: Any, prompt: Prompt) -> dict[str, list[int]]:
    """Positions of the word's, "without"'s and the object's tokens in the prompt."""
    ids = tokenizer(prompt.text)["input_ids"]
    return {
        "word": phrase_positions(ids, tokenizer(prompt.word, add_special_tokens=False)["input_ids"]),
        "without": phrase_positions(ids, tokenizer("without", add_special_tokens=False)["input_ids"]),
        "object": phrase_positions(ids, tokenizer(prompt.object, add_special_tokens=False)["input_ids"]),
    }


def drawn_masks(judge: Any, images: np.ndarray, name: str) -> np.ndarray:
    """(B, H, W) bool: where the judge finds object ``name`` in each image."""
    size = images.shape[1]
    judged = judge_images(judge, images, masks=True)
    return np.stack(
        [
            np.any([o["mask"] for o in found if o["name"] == name], axis=0)
            if any(o["name"] == name for o in found)
            else np.zeros((size, size), dtype=bool)
            for found in judged.objects
        ]
    )


def prompt_attention(
    model: Any, judge: Any, prompt: Prompt, *, seed: int, images: int, steps: int, guidance_scale: float
) -> PromptAttention:
    """Sample ``images`` images of the prompt with seed ``seed``, recording the cross-attention, and judge them."""
    store = CrossAttentionStore()
    previous = install_processors(model.unet, cross=lambda layer: CrossAttentionRecorder(store, layer))
    try:
        drawn = generate(
            model,
            [prompt.text],
            seed=seed,
            images_per_prompt=images,
            steps=steps,
            guidance_scale=guidance_scale,
            batch_size=images,
        )
    finally:
        model.unet.set_attn_processor(previous)
    maps = store.maps(drawn.shape[1])  # (B, L, H, W)
    groups = token_groups(model.tokenizer, prompt)
    masks = drawn_masks(judge, drawn, prompt.object)
    shares = {name: attention_share(maps, pos) for name, pos in groups.items()}
    on_object = attention_on_mask(maps, groups["object"], masks)
    keep = min(3, len(drawn))
    panel_maps = {name: maps[:keep, pos].sum(1).numpy() for name, pos in groups.items() if pos}
    return PromptAttention(
        shares={k: v.tolist() for k, v in shares.items()},
        object_on_drawn=[None if np.isnan(v) else float(v) for v in on_object],
        images_with_object=int(masks.any(axis=(1, 2)).sum()),
        tokens={k: len(v) for k, v in groups.items()},
        panel={"prompt": prompt.text, "images": drawn[:keep], "maps": panel_maps},
    )
