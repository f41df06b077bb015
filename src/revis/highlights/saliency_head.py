"""A trained saliency head on frozen features: the stand-in for the detector methods HL-CLIP compares with.

Moment-DETR (and the DETR-style detectors after it) score a clip's saliency with a head over
*frozen* CLIP features of the clips and the query, trained on the highlight labels; HL-CLIP's
point is that fine-tuning CLIP's last layers instead beats them. The head here: per clip, the
frozen clip embedding, the query embedding and their product, mixed with the neighbouring clips
by a temporal convolution (Moment-DETR's encoder sees the whole clip sequence), then an MLP to
one score; trained with the same MSE to the normalised saliency as HL-CLIP's fine-tuning, on the
same training queries, from the same frozen (zero-shot) encoder.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from revis.datasets.qvhighlights import QvhQuery
from revis.highlights.hlclip import saliency_targets
from revis.vl.encoder import DualEncoder


@dataclass
class HeadConfig:
    hidden: int = 64
    kernel: int = 3  # clips each clip sees (odd)
    steps: int = 300
    queries_per_batch: int = 16
    lr: float = 3e-3
    weight_decay: float = 1e-4
    normalisation: str = "mean_div4"
    seed: int = 0


class SaliencyHead(nn.Module):
    def __init__(self, dim: int, hidden: int = 64, kernel: int = 3) -> None:
        super().__init__()
        if kernel % 2 != 1:
            raise ValueError(f"kernel must be odd, got {kernel}")
        self.mix = nn.Conv1d(3 * dim, hidden, kernel, padding=kernel // 2)
        self.out = nn.Sequential(nn.GELU(), nn.Linear(hidden, hidden), nn.GELU(), nn.Linear(hidden, 1))

    def forward(self, clips: torch.Tensor, query: torch.Tensor) -> torch.Tensor:
        """(T, D) clip features and a (D,) query feature -> (T,) saliency scores."""
        expanded = query.expand_as(clips)
        fused = torch.cat([clips, expanded, clips * expanded], dim=-1)  # (T, 3D)
        mixed = self.mix(fused.T.unsqueeze(0))[0].T  # (T, hidden)
        return self.out(mixed).squeeze(-1)


def train_saliency_head(
    clip_z: Mapping[str, np.ndarray],
    query_z: Mapping[int, np.ndarray],
    queries: Sequence[QvhQuery],
    config: HeadConfig,
    clip_length: float = 2.0,
) -> tuple[SaliencyHead, list[float]]:
    """Train a head on frozen (clips, D) features per video and (D,) query features; returns it and the MSE history."""
    torch.manual_seed(config.seed)
    rng = np.random.default_rng([config.seed, 41])
    dim = len(next(iter(query_z.values())))
    head = SaliencyHead(dim, config.hidden, config.kernel)
    optimiser = torch.optim.AdamW(head.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    data = []
    for q in queries:
        target = saliency_targets(q, config.normalisation, clip_length)
        clips = _fit(clip_z[q.vid], len(target))
        data.append((torch.as_tensor(clips), torch.as_tensor(query_z[q.qid]), torch.as_tensor(target).float()))
    history = []
    head.train()
    for _ in range(config.steps):
        picked = rng.choice(len(data), size=min(config.queries_per_batch, len(data)), replace=False)
        predicted = torch.cat([head(data[i][0], data[i][1]) for i in picked])
        goal = torch.cat([data[i][2] for i in picked])
        loss = nn.functional.mse_loss(predicted, goal)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        history.append(float(loss.detach()))
    head.eval()
    return head, history


@torch.no_grad()
def head_scores(
    head: SaliencyHead,
    clip_z: Mapping[str, np.ndarray],
    query_z: Mapping[int, np.ndarray],
    queries: Sequence[QvhQuery],
    clip_length: float = 2.0,
) -> dict[int, np.ndarray]:
    """``{qid: (clips,) scores}`` of the trained head (a video short of clips repeats its last frame)."""
    return {
        q.qid: head(
            torch.as_tensor(_fit(clip_z[q.vid], q.num_clips(clip_length))), torch.as_tensor(query_z[q.qid])
        ).numpy()
        for q in queries
    }


def _fit(features: np.ndarray, clips: int) -> np.ndarray:
    """One feature row per clip: truncated, or the last row repeated (as scoring repeats the last frame)."""
    features = np.asarray(features, dtype=np.float32)
    return features[np.minimum(np.arange(clips), len(features) - 1)]


def embed_clips(
    encoder: torch.nn.Module,
    frames: Mapping[str, np.ndarray] | object,
    queries: Sequence[QvhQuery],
    clip_length: float = 2.0,
    batch_size: int = 512,
) -> dict[str, np.ndarray]:
    """``{vid: (clips, D)}`` frozen image embeddings, one (clamped) frame per clip the queries count."""
    from revis.highlights.hlclip import _clips_per_video, _frames_of

    out = {}
    for vid, clips in _clips_per_video(queries, clip_length).items():
        picked = _frames_of(frames, vid, np.arange(clips))  # type: ignore[arg-type]
        out[vid] = encoder.embed_images(picked, batch_size).numpy()  # type: ignore[operator]
    return out


def head_texts(train_queries: Sequence[QvhQuery], scored: Mapping[str, Sequence[QvhQuery]]) -> list[str]:
    """The distinct query texts the head trains on and scores, in the order it embeds them."""
    return list(dict.fromkeys(q.query for q in [*train_queries, *(q for qs in scored.values() for q in qs)]))


@torch.no_grad()
def project_pooled(encoder: DualEncoder, pooled: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """``encoder.embed_texts(texts)`` from the text backbone's pooled rows of ``texts`` (``pooled_texts``, same
    batches): only the head runs. Exact when the backbone is the one that pooled them (a frozen backbone that
    every seed shares, as the vl encoders' MiniLM)."""
    tower = encoder.text
    was_training = tower.training
    tower.eval()
    try:
        out = [
            torch.nn.functional.normalize(tower.project(pooled[i : i + batch_size].to(tower.device)), dim=-1).cpu()
            for i in range(0, len(pooled), batch_size)
        ]
    finally:
        tower.train(was_training)
    return torch.cat(out)


def saliency_head_arm(
    encoder: torch.nn.Module,
    frames: Mapping[str, np.ndarray] | object,
    train_queries: Sequence[QvhQuery],
    scored: Mapping[str, Sequence[QvhQuery]],
    config: HeadConfig,
    clip_length: float = 2.0,
    pooled: torch.Tensor | None = None,
) -> tuple[dict[str, dict[int, np.ndarray]], list[float]]:
    """Train a head on ``encoder``'s frozen features of the training queries; ``{split: {qid: scores}}`` and the MSE.

    ``pooled``: the text backbone's pooled rows of ``head_texts`` when they were computed once for several
    encoders that share the backbone (then only the text head runs here); None: the whole text tower runs.
    """
    everything = [*train_queries, *(q for qs in scored.values() for q in qs)]
    clip_z = embed_clips(encoder, frames, everything, clip_length)
    texts = head_texts(train_queries, scored)
    embedded = encoder.embed_texts(texts) if pooled is None else project_pooled(encoder, pooled)  # type: ignore[operator, arg-type]
    text_z = dict(zip(texts, embedded.numpy()))
    query_z = {q.qid: text_z[q.query] for q in everything}
    head, history = train_saliency_head(clip_z, query_z, train_queries, config, clip_length)
    return {split: head_scores(head, clip_z, query_z, qs, clip_length) for split, qs in scored.items()}, history
