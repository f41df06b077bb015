"""DreamBench's metrics through ``transformers`` from local folders: DINO, CLIP-I, CLIP-T.

- DINO: mean cosine similarity of the [CLS] embeddings (ViT-S/16 DINO in the paper) between
  each generated image and each real image of the subject.
- CLIP-I: the same with CLIP's image embeddings.
- CLIP-T: mean cosine similarity between each generated image's CLIP embedding and its prompt's
  text embedding (the prompt with the subject token replaced by the class word).

Weights are read from local paths only (``local_files_only``); nothing is downloaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F


def _pil(images: Any) -> list:
    from PIL import Image

    out = []
    for im in images:
        if isinstance(im, (str, Path)):
            out.append(Image.open(im).convert("RGB"))
        elif isinstance(im, np.ndarray):
            out.append(Image.fromarray(im.astype(np.uint8)).convert("RGB"))
        else:
            out.append(im.convert("RGB"))
    return out


def _features(out: Any) -> torch.Tensor:
    """CLIP's projected features: a tensor (transformers 4) or the output's ``pooler_output`` (transformers 5)."""
    return (out if isinstance(out, torch.Tensor) else out.pooler_output).float()


class DinoScorer:
    """[CLS] features of a ViT (DINO) folder."""

    def __init__(self, path: str | Path, device: str = "cpu") -> None:
        from transformers import AutoImageProcessor, ViTModel

        self.processor = AutoImageProcessor.from_pretrained(str(path), local_files_only=True)
        self.model = (
            ViTModel.from_pretrained(str(path), local_files_only=True, add_pooling_layer=False).eval().to(device)
        )
        self.device = device

    @torch.no_grad()
    def embed(self, images: Any) -> torch.Tensor:
        batch = self.processor(images=_pil(images), return_tensors="pt").to(self.device)
        return F.normalize(self.model(**batch).last_hidden_state[:, 0].float(), dim=-1)

    def similarity(self, generated: Any, real: Any) -> float:
        return float((self.embed(generated) @ self.embed(real).T).mean())


class ClipScorer:
    """CLIP image and text embeddings of a CLIP folder (CLIP-I and CLIP-T)."""

    def __init__(self, path: str | Path, device: str = "cpu") -> None:
        from transformers import CLIPModel, CLIPProcessor

        self.processor = CLIPProcessor.from_pretrained(str(path), local_files_only=True)
        self.model = CLIPModel.from_pretrained(str(path), local_files_only=True).eval().to(device)
        self.device = device

    @torch.no_grad()
    def embed_images(self, images: Any) -> torch.Tensor:
        batch = self.processor(images=_pil(images), return_tensors="pt").to(self.device)
        return F.normalize(_features(self.model.get_image_features(**batch)), dim=-1)

    @torch.no_grad()
    def embed_texts(self, texts: list[str]) -> torch.Tensor:
        batch = self.processor(text=list(texts), return_tensors="pt", padding=True, truncation=True).to(self.device)
        return F.normalize(_features(self.model.get_text_features(**batch)), dim=-1)

    def image_similarity(self, generated: Any, real: Any) -> float:
        return float((self.embed_images(generated) @ self.embed_images(real).T).mean())

    def text_similarity(self, generated: Any, prompts: list[str]) -> float:
        """Mean over images of cos(image_i, prompt_i)."""
        if len(prompts) != len(generated):
            raise ValueError(f"{len(prompts)} prompts for {len(generated)} images")
        return float((self.embed_images(generated) * self.embed_texts(prompts)).sum(-1).mean())


def dreambench_scores(
    generated: dict[str, dict[str, Any]], subjects: list[Any], dino: DinoScorer | None, clip: ClipScorer | None
) -> dict[str, float]:
    """Mean DINO / CLIP-I / CLIP-T over subjects. ``generated[subject][prompt] = images`` (prompt with the class word)."""
    scores: dict[str, list[float]] = {"dino": [], "clip_i": [], "clip_t": []}
    for subject in subjects:
        per_prompt = generated.get(subject.name, {})
        images = [im for ims in per_prompt.values() for im in ims]
        texts = [p for p, ims in per_prompt.items() for _ in ims]
        if not images:
            continue
        if dino is not None:
            scores["dino"].append(dino.similarity(images, subject.images))
        if clip is not None:
            scores["clip_i"].append(clip.image_similarity(images, subject.images))
            scores["clip_t"].append(clip.text_similarity(images, texts))
    return {k: float(np.mean(v)) for k, v in scores.items() if v}
