"""Subject encoders of a t2i pipeline: build, save as plain state dicts, load back."""

from __future__ import annotations

from typing import Any

from revis.diffusion.subject_encoder import SubjectEncoder
from revis.diffusion.text import TextEncoder


def pipeline_text_encoder(pipe: Any) -> TextEncoder:
    """The pipeline's frozen text encoder and tokenizer as a ``TextEncoder`` (no second load).

    The mini model's ``max_length`` is in its config; Stable Diffusion's is the tokenizer's (77).
    """
    max_length = pipe.config.get("max_length") or pipe.tokenizer.model_max_length
    return TextEncoder.from_components(pipe.text_encoder, pipe.tokenizer, max_length=max_length)


def new_subject_encoder(encoder: TextEncoder, image_size: int, tokens: int, width: int) -> SubjectEncoder:
    """A fresh encoder whose outputs start at the mean row of the text encoder's embedding table."""
    anchor = encoder.embedding_table.weight.detach().mean(0)
    return SubjectEncoder(image_size, tokens, encoder.hidden_size, width, anchor=anchor)


def load_subject_encoder(encoders: dict[str, Any], seed: int | str, dim: int) -> SubjectEncoder:
    """The trained encoder of ``seed`` from the train stage's checkpoint."""
    mapper = SubjectEncoder(int(encoders["image_size"]), int(encoders["tokens"]), dim, int(encoders["width"]))
    mapper.load_state_dict(encoders["seeds"][str(seed)])
    return mapper.eval()
