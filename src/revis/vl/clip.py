"""A real CLIP (``transformers.CLIPModel`` from a local folder) behind the tower interface.

``load_clip_towers(path)`` returns an image tower and a text tower over one CLIPModel: the
vision tower's blocks are [patch + position embedding -> pre-LayerNorm, encoder layer 1..L],
its head post-LayerNorm on the class token -> ``visual_projection``; the text tower's blocks are
[token + position embedding, encoder layer 1..L] under the causal mask, its head the final
LayerNorm at the end-of-text token -> ``text_projection``. ``run`` over all blocks equals
``CLIPModel.get_image_features`` / ``get_text_features`` (tests/vl/test_clip.py). Nothing is
downloaded: the folder holds ``config.json``, the weights, the tokenizer files and
``preprocessor_config.json`` (e.g. a saved ``openai/clip-vit-base-patch32``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from revis.datasets.imageset import DataError
from revis.vl.towers import Block, State, Tower

if TYPE_CHECKING:
    from transformers import CLIPImageProcessor, PreTrainedTokenizerBase
    from transformers.models.clip.modeling_clip import CLIPTextModel, CLIPVisionModel


def _run_layer(layer: nn.Module, state: State) -> State:
    """An encoder layer of the vision tower (no attention mask)."""
    return State(layer(state.hidden, None))


class ClipImageTower(Tower):
    def __init__(self, vision: CLIPVisionModel, projection: nn.Linear, processor: CLIPImageProcessor) -> None:
        super().__init__()
        self.vision = vision
        self.projection = projection
        self.processor = processor

    def prepare(self, inputs: object) -> State:
        if isinstance(inputs, torch.Tensor) and inputs.dtype != torch.uint8:
            return State(inputs.to(self.device))  # already processed pixel values
        frames = inputs.numpy() if isinstance(inputs, torch.Tensor) else np.asarray(inputs)
        pixels = self.processor(images=list(frames), return_tensors="pt")["pixel_values"]
        return State(pixels.to(self.device))

    def blocks(self) -> list[Block]:
        vision = self.vision
        stem = Block(
            lambda s: State(vision.pre_layrnorm(vision.embeddings(s.hidden))),
            [*vision.embeddings.parameters(), *vision.pre_layrnorm.parameters()],
            "embeddings",
        )
        layers = [
            Block(functools.partial(_run_layer, layer), list(layer.parameters()), f"layer{i}")
            for i, layer in enumerate(vision.encoder.layers)
        ]
        return [stem, *layers]

    def pool(self, state: State) -> torch.Tensor:
        return state.hidden[:, 0, :]

    def project(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.projection(self.vision.post_layernorm(pooled))

    def head_parameters(self) -> list[nn.Parameter]:
        return [*self.vision.post_layernorm.parameters(), *self.projection.parameters()]


class ClipTextTower(Tower):
    def __init__(
        self, text: CLIPTextModel, projection: nn.Linear, tokenizer: PreTrainedTokenizerBase, max_length: int = 77
    ) -> None:
        super().__init__()
        self.text = text
        self.projection = projection
        self.tokenizer = tokenizer
        self.max_length = max_length

    def prepare(self, inputs: object) -> State:
        texts = [inputs] if isinstance(inputs, str) else list(inputs)  # type: ignore[call-overload]
        batch = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")
        ids = batch["input_ids"].to(self.device)
        return State(ids, batch["attention_mask"].to(self.device), ids)

    def _layer(self, layer: nn.Module) -> Callable[[State], State]:
        from transformers.masking_utils import create_causal_mask

        def forward(state: State) -> State:
            mask = create_causal_mask(
                config=self.text.config,
                inputs_embeds=state.hidden,
                attention_mask=state.mask,
                cache=None,
                allow_is_causal_skip=False,  # a materialised causal + padding mask, no is_causal flag needed
            )
            return State(layer(state.hidden, mask), state.mask, state.ids)

        return forward

    def blocks(self) -> list[Block]:
        embeddings = self.text.embeddings
        stem = Block(
            lambda s: State(embeddings(input_ids=s.hidden), s.mask, s.ids), list(embeddings.parameters()), "embeddings"
        )
        layers = [
            Block(self._layer(layer), list(layer.parameters()), f"layer{i}")
            for i, layer in enumerate(self.text.encoder.layers)
        ]
        return [stem, *layers]

    def pool(self, state: State) -> torch.Tensor:
        hidden = self.text.final_layer_norm(state.hidden)
        ids = state.ids
        if ids is None:
            raise ValueError("the text tower pools at the end-of-text token: its state needs the token ids")
        rows = torch.arange(hidden.shape[0], device=hidden.device)
        eos = self.text.eos_token_id
        if not isinstance(eos, int):
            raise ValueError(f"the CLIP text config needs one integer eos_token_id, got {eos!r}")
        if eos == 2:  # legacy configs: the end-of-text token has the highest id
            positions = ids.to(torch.int).argmax(dim=-1)
        else:
            positions = torch.eq(ids.to(torch.int), eos).int().argmax(dim=-1)
        return hidden[rows, positions]

    def project(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.projection(pooled)

    def head_parameters(self) -> list[nn.Parameter]:
        return [*self.text.final_layer_norm.parameters(), *self.projection.parameters()]

    def table_parameters(self) -> list[nn.Parameter]:
        return list(self.text.embeddings.token_embedding.parameters())  # its one tensor, the weight


def load_clip_towers(path: str | Path) -> tuple[ClipImageTower, ClipTextTower, float]:
    """Image tower, text tower and the pretrained logit scale of a local CLIP folder."""
    from transformers import AutoTokenizer, CLIPImageProcessor, CLIPModel

    folder = Path(path)
    if not (folder / "config.json").is_file():
        raise DataError(f"no CLIP model at {folder}: expected a folder saved by CLIPModel.save_pretrained")
    try:
        model = CLIPModel.from_pretrained(folder)
        tokenizer = AutoTokenizer.from_pretrained(folder)
        processor = CLIPImageProcessor.from_pretrained(folder)
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot load CLIP from {folder}: {exc}") from exc
    model.eval()
    max_length = int(model.text_model.config.max_position_embeddings)
    image = ClipImageTower(model.vision_model, model.visual_projection, processor)
    text = ClipTextTower(model.text_model, model.text_projection, tokenizer, max_length)
    return image, text, float(model.logit_scale.detach())
