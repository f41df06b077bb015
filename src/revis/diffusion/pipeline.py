"""``MiniT2IPipeline``: the mini world's text-to-image model as a diffusers ``DiffusionPipeline``.

Components: ``unet`` (``UNet2DConditionModel``, pixel space), ``scheduler`` (the sampler),
``text_encoder`` (frozen BERT, MiniLM by default) and ``tokenizer``. The call follows Stable
Diffusion's (``prompt``, ``negative_prompt``, ``num_inference_steps``, ``guidance_scale``,
``generator``, ``prompt_embeds`` ...), so ``revis.diffusion.generate.generate`` drives both.

On disk it is a diffusers-style folder (``model_index.json``, ``unet/``, ``scheduler/``). The
frozen text encoder is *not* copied into it (90 MB per model): ``model_index.json`` names it
(``text_encoder_name``), and ``load_t2i`` attaches it again; ``MiniT2IPipeline.from_pretrained
(folder, text_encoder=..., tokenizer=...)`` works as for any diffusers pipeline.
"""

from __future__ import annotations

import functools
import os
import threading
import weakref
from collections import OrderedDict
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from diffusers.configuration_utils import FrozenDict
from diffusers.models.unets.unet_2d_condition import UNet2DConditionModel
from diffusers.pipelines.pipeline_utils import DiffusionPipeline, ImagePipelineOutput
from diffusers.utils.torch_utils import randn_tensor
from transformers import AutoTokenizer, BertModel

from revis.diffusion.text import MINILM, resolve_text_encoder
from revis.diffusion.training import pad_context


class MiniT2IPipeline(DiffusionPipeline):
    """Text-to-image with classifier-free guidance and negative prompts over a pixel-space UNet."""

    _optional_components: list[str] = ["text_encoder", "tokenizer"]  # noqa: RUF012  (diffusers: an instance variable)
    model_cpu_offload_seq = "text_encoder->unet"  # type: ignore[assignment]  # diffusers declares it None
    # the components register_modules sets (annotations only: diffusers keeps them as attributes)
    unet: UNet2DConditionModel
    scheduler: Any
    text_encoder: BertModel | None
    tokenizer: Any

    def __init__(
        self,
        unet: UNet2DConditionModel,
        scheduler: Any,
        text_encoder: BertModel | None = None,
        tokenizer: Any = None,
        text_encoder_name: str = MINILM,
        max_length: int = 48,
        seed: int | None = None,
    ) -> None:
        super().__init__()
        self.register_modules(unet=unet, scheduler=scheduler, text_encoder=text_encoder, tokenizer=tokenizer)
        # seed: the training seed (initialization, batch order, noise); whole-chain seeds pick models by it
        self.register_to_config(text_encoder_name=text_encoder_name, max_length=max_length, seed=seed)
        self.set_progress_bar_config(disable=True)

    @torch.no_grad()
    def encode_prompt(self, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """(token states (B, L, D), bool mask (B, L)) of the text encoder, padded to the longest prompt.

        The same prompt list through the same frozen encoder is run once per process (``_PromptStates``): the
        models of several seeds share one encoder and sample the same captions. Treat the result as read-only."""
        if self.text_encoder is None or self.tokenizer is None:
            raise ValueError("this pipeline has no text encoder attached: load it with load_t2i, or pass prompt_embeds")
        return _PROMPT_STATES.get(self, list(prompts))

    def _run_text_encoder(self, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        assert self.text_encoder is not None and self.tokenizer is not None
        batch = self.tokenizer(
            list(prompts), padding="longest", truncation=True, max_length=self.config["max_length"], return_tensors="pt"
        )
        device = self.unet.device
        mask = batch["attention_mask"].to(device)
        states = self.text_encoder(input_ids=batch["input_ids"].to(device), attention_mask=mask).last_hidden_state
        return states * mask[..., None], mask.bool()

    def _prompt_context(
        self, prompt: str | list[str] | None, embeds: torch.Tensor | None, mask: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(token states, bool mask) of the prompts, or of the given embeddings (all rows read without a mask)."""
        if embeds is None:
            prompts = [prompt] if isinstance(prompt, str) else list(prompt or [])
            if not prompts:
                raise ValueError("give prompt or prompt_embeds")
            embeds, mask = self.encode_prompt(prompts)
        elif mask is None:
            mask = torch.ones(embeds.shape[:2], dtype=torch.bool, device=embeds.device)
        return embeds, mask.bool()

    def _negative_context(
        self,
        negative_prompt: str | list[str] | None,
        n_prompts: int,
        embeds: torch.Tensor | None,
        mask: torch.Tensor | None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(token states, mask) of the negative prompts (the empty caption when None), or of the given embeddings."""
        if embeds is None:
            negatives = negative_prompt if negative_prompt is not None else ""
            negatives = [negatives] * n_prompts if isinstance(negatives, str) else list(negatives)
            if len(negatives) != n_prompts:
                raise ValueError(f"{len(negatives)} negative prompts for {n_prompts} prompts")
            embeds, mask = self.encode_prompt(negatives)
        elif mask is None:
            mask = torch.ones(embeds.shape[:2], dtype=torch.bool)
        return embeds, mask

    @torch.no_grad()
    def __call__(
        self,
        prompt: str | list[str] | None = None,
        negative_prompt: str | list[str] | None = None,
        num_inference_steps: int = 20,
        guidance_scale: float = 3.0,
        num_images_per_prompt: int = 1,
        generator: torch.Generator | list[torch.Generator] | None = None,
        latents: torch.Tensor | None = None,
        prompt_embeds: torch.Tensor | None = None,
        prompt_attention_mask: torch.Tensor | None = None,
        negative_prompt_embeds: torch.Tensor | None = None,
        negative_prompt_attention_mask: torch.Tensor | None = None,
        output_type: str = "np",
        cross_attention_kwargs: dict[str, Any] | None = None,
        return_dict: bool = True,
        start_step: int = 0,
    ) -> ImagePipelineOutput | tuple:
        """Images for ``prompt`` (or precomputed ``prompt_embeds``); guidance pushes away from ``negative_prompt``
        (the empty caption when None). ``output_type``: "np" (float HWC in [0, 1]), "pt" or "pil".
        ``start_step`` > 0: ``latents`` are images already noised to the sampler's timestep of that index (image to
        image, ``revis.diffusion.generate.redenoise``); the sampler runs from there."""
        context, context_mask = self._prompt_context(prompt, prompt_embeds, prompt_attention_mask)
        n_prompts = context.shape[0]
        do_guidance = guidance_scale > 1.0
        if do_guidance:
            negative_prompt_embeds, negative_prompt_attention_mask = self._negative_context(
                negative_prompt, n_prompts, negative_prompt_embeds, negative_prompt_attention_mask
            )
            length = max(context.shape[1], negative_prompt_embeds.shape[1])
            negative, negative_mask = pad_context(negative_prompt_embeds, negative_prompt_attention_mask.bool(), length)
            context, context_mask = pad_context(context, context_mask, length)
            # [unconditional (negative) half ; conditional half], each repeated per image
            context = torch.cat(
                [
                    negative.repeat_interleave(num_images_per_prompt, 0),
                    context.repeat_interleave(num_images_per_prompt, 0),
                ]
            )
            context_mask = torch.cat(
                [
                    negative_mask.repeat_interleave(num_images_per_prompt, 0),
                    context_mask.repeat_interleave(num_images_per_prompt, 0),
                ]
            )
        else:
            context = context.repeat_interleave(num_images_per_prompt, 0)
            context_mask = context_mask.repeat_interleave(num_images_per_prompt, 0)
        batch = n_prompts * num_images_per_prompt
        size = self.unet.config["sample_size"]
        shape = (batch, self.unet.config["in_channels"], size, size)
        if latents is None:
            latents = randn_tensor(shape, generator=generator, device=self.unet.device, dtype=self.unet.dtype)
        self.scheduler.set_timesteps(num_inference_steps, device=self.unet.device)
        if start_step == 0:
            latents = latents * self.scheduler.init_noise_sigma
        for t in self.progress_bar(self.scheduler.timesteps[start_step:]):
            model_input = torch.cat([latents, latents]) if do_guidance else latents
            model_input = self.scheduler.scale_model_input(model_input, t)
            eps = self.unet(
                model_input,
                t,
                encoder_hidden_states=context,
                encoder_attention_mask=context_mask,
                cross_attention_kwargs=cross_attention_kwargs,
            ).sample
            if do_guidance:
                uncond, cond = eps.chunk(2)
                eps = uncond + guidance_scale * (cond - uncond)
            latents = self.scheduler.step(eps, t, latents).prev_sample
        image = (latents / 2 + 0.5).clamp(0, 1)
        if output_type == "pt":
            out: Any = image
        else:
            out = image.permute(0, 2, 3, 1).float().cpu().numpy()
            if output_type == "pil":
                out = self.numpy_to_pil(out)
        return ImagePipelineOutput(images=out) if return_dict else (out,)


class _PromptStates:
    """``encode_prompt``'s results per text encoder (weakly held), keyed by the exact prompt list, the tokenizer, the
    length and the encoder's weight versions (an in-place change of a weight is a new key); the last few lists.

    A hit returns the very tensors of the first run: the same batch through the same frozen weights, so every
    sample is what it was without the cache (the encoder's output does not depend on the torch thread count).
    One lock: a thread asking for a list another thread is encoding waits for it instead of encoding it again."""

    def __init__(self, size: int = 4) -> None:
        self.size = size
        self.lock = threading.Lock()
        self.by_encoder: weakref.WeakKeyDictionary[Any, OrderedDict] = weakref.WeakKeyDictionary()

    def get(self, pipe: MiniT2IPipeline, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        encoder = pipe.text_encoder
        assert encoder is not None
        if encoder.training:  # dropout on: every run differs
            return pipe._run_text_encoder(prompts)
        versions = tuple(t._version for t in (*encoder.parameters(), *encoder.buffers()))
        key = (tuple(prompts), id(pipe.tokenizer), pipe.config["max_length"], str(pipe.unet.device), versions)
        with self.lock:
            cache = self.by_encoder.setdefault(encoder, OrderedDict())
            if key not in cache:
                cache[key] = pipe._run_text_encoder(prompts)
                while len(cache) > self.size:
                    cache.popitem(last=False)
            cache.move_to_end(key)
            return cache[key]


_PROMPT_STATES = _PromptStates()


def save_t2i(pipe: MiniT2IPipeline, folder: str | os.PathLike) -> None:
    """Write the diffusers-style folder (unet, scheduler, model_index.json) without the frozen text encoder."""
    # A UNet read with from_pretrained records the folder it came from (`_name_or_path`, an absolute path): drop it,
    # so that a saved model is the same bytes wherever the checkout lives (whitebear fine-tunes t2i's loaded UNet)
    if "_name_or_path" in pipe.unet.config:
        pipe.unet._internal_dict = FrozenDict({k: v for k, v in pipe.unet.config.items() if k != "_name_or_path"})
    bare = MiniT2IPipeline(
        pipe.unet,
        pipe.scheduler,
        text_encoder_name=pipe.config["text_encoder_name"],
        max_length=pipe.config["max_length"],
        seed=pipe.config.get("seed"),
    )
    bare.save_pretrained(str(folder), safe_serialization=True)


@functools.lru_cache(maxsize=4)
def _frozen_text_encoder(path: str) -> tuple[BertModel, Any]:
    """The frozen text encoder and its tokenizer, read once per process (models of several seeds share it)."""
    return BertModel.from_pretrained(path).eval().requires_grad_(False), AutoTokenizer.from_pretrained(path)


def load_t2i(folder: str | os.PathLike, device: str | torch.device = "cpu") -> MiniT2IPipeline:
    """Load a saved ``MiniT2IPipeline`` folder and attach its text encoder (MiniLM from the package by default)."""
    folder = Path(folder)
    if not (folder / "model_index.json").is_file():
        raise FileNotFoundError(f"{folder} is not a saved t2i model (no model_index.json)")
    config = cast(dict[str, Any], MiniT2IPipeline.load_config(str(folder)))  # a dict without return_unused_kwargs
    text_encoder, tokenizer = _frozen_text_encoder(str(resolve_text_encoder(config.get("text_encoder_name", MINILM))))
    pipe = MiniT2IPipeline.from_pretrained(str(folder), text_encoder=text_encoder, tokenizer=tokenizer)
    pipe.unet.eval().requires_grad_(False)
    return pipe.to(device)


def images_to_uint8(images: np.ndarray) -> np.ndarray:
    """float HWC in [0, 1] (the "np" output) -> uint8."""
    return (np.clip(images, 0, 1) * 255).round().astype(np.uint8)
