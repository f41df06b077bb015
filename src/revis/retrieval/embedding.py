"""Video and text embeddings for retrieval: frame pooling and cached text embedders.

A gallery video is the pooled embedding of its frames (one per 2-s clip) from the image
tower: the ``mean``, or ``attention`` pooling, a softmax over frames of their cosine to the
mean direction at a temperature (frames typical of the video weigh more; a query-independent
pooling, so the gallery is embedded once). Text (queries, answers) goes through the text
tower; ``CachedTextEmbedder`` embeds each distinct string once (answers repeat across
conditions of the same seed).

The labelled surrogate ``minilm_embedder`` embeds text with the packaged all-MiniLM-L6-v2
(offline); its gallery is the mean MiniLM embedding of a video's per-clip descriptions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from revis.retrieval.ranking import normalise

if TYPE_CHECKING:
    import torch

    from revis.vl.encoder import DualEncoder

Pooling = Literal["mean", "attention"]


def pool_frames(frame_z: np.ndarray, how: Pooling = "mean", temperature: float = 0.1) -> np.ndarray:
    """(D,) unit video embedding of (F, D) frame embeddings."""
    z = normalise(np.asarray(frame_z, dtype=np.float32))
    mean = normalise(z.mean(0))
    if how == "mean":
        return mean
    if how == "attention":
        logits = z @ mean / temperature
        weights = np.exp(logits - logits.max())
        return normalise((weights / weights.sum()) @ z)
    raise ValueError(f"pooling must be 'mean' or 'attention', got {how!r}")


class CachedTextEmbedder:
    """``embed(texts) -> (N, D)`` unit rows, each distinct text computed once."""

    def __init__(self, fn: Callable[[list[str]], np.ndarray]) -> None:
        self.fn = fn
        self.cache: dict[str, np.ndarray] = {}

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        missing = list(dict.fromkeys(t for t in texts if t not in self.cache))
        if missing:
            for text, z in zip(missing, normalise(self.fn(missing))):
                self.cache[text] = z
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack([self.cache[t] for t in texts])


def vl_text_fn(encoder: DualEncoder) -> Callable[[list[str]], np.ndarray]:
    """The text tower of a ``revis.vl`` ``DualEncoder``."""

    def embed(texts: list[str]) -> np.ndarray:
        return encoder.embed_texts(texts).numpy()

    return embed


def minilm_fn(path: str | None = None) -> Callable[[list[str]], np.ndarray]:
    """all-MiniLM-L6-v2 sentence embeddings (the packaged model unless ``path``), 384-d."""
    from sentence_transformers import SentenceTransformer

    from revis.vl.towers import minilm_path

    model = SentenceTransformer(str(path or minilm_path()), device="cpu")

    def embed(texts: list[str]) -> np.ndarray:
        return model.encode(list(texts), batch_size=256, normalize_embeddings=True, convert_to_numpy=True)

    return embed


def encoders_by_seed(
    encoders: Mapping[str, Any], seeds: Sequence[int], device: torch.device | str = "cpu"
) -> Iterator[tuple[int, DualEncoder]]:
    """``(seed, DualEncoder)`` for each seed of a ``vl.encoders`` bundle, building the model only once.

    Weights loaded from a pretrained source (the frozen MiniLM) are not stored in the checkpoints
    and are the same for every seed, so after the first build only the stored tensors are swapped
    in (exact; ``load_encoder`` semantics). Falls back to a fresh build when configs differ.
    """
    from revis.vl.checkpoint import load_encoder

    encoder: DualEncoder | None = None
    config = None
    for seed in seeds:
        checkpoint = encoders["checkpoints"][f"seed{seed}"]
        if encoder is None or checkpoint["config"] != config:
            encoder, config = load_encoder(checkpoint, device), checkpoint["config"]
        else:
            result = encoder.load_state_dict(checkpoint["state_dict"], strict=False)
            if result.unexpected_keys:
                raise ValueError(f"vl checkpoint of seed {seed} does not fit: {result.unexpected_keys[:5]}")
        yield seed, encoder
