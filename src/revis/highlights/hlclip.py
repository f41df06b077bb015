"""HL-CLIP (arXiv 2404.01745): a dual encoder fine-tuned to score clips, no detection head.

- Score of clip j of video i for query q_i: ``ŷ_ij = cos(F_v(x_ij), F_t(q_i))``.
- Loss: MSE between ŷ and the normalised ground-truth saliency y over N videos x K frames per
  batch. The normalisation is not given exactly in the paper; ``saliency_targets`` offers
  ``mean_div4`` (the annotators' mean / 4, in [0, 1]; non-relevant clips 0 -- the default),
  ``mean_minmax`` (the mean divided by the query's highest mean, so its best clip is 1) and
  ``mean_div4_signed`` (2 * mean / 4 - 1 in [-1, 1], the cosine's range).
- Only the last ``last_layers`` blocks (+ heads) of both towers train (``None``: all blocks,
  full fine-tuning). The frozen prefix of each tower is computed once and cached (exact: it
  does not change), which makes last-2 tuning cheap on a CPU.
- Saliency pooling at inference: ``revis.highlights.pooling.pool_scores``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from revis.curves import log_curve
from revis.datasets.qvhighlights import QvhQuery, clamp_indices
from revis.vl.checkpoint import encoder_checkpoint, load_encoder, trainable_names
from revis.vl.encoder import DualEncoder, cached_prefix, embed_texts_sharing_prefix, frozen_prefix_blocks, set_trainable
from revis.vl.towers import State, Tower

NORMALISATIONS = ("mean_div4", "mean_minmax", "mean_div4_signed")


def saliency_targets(query: QvhQuery, normalisation: str = "mean_div4", clip_length: float = 2.0) -> np.ndarray:
    """(clips,) regression target per clip from the annotators' 0-4 scores."""
    mean = query.saliency(clip_length).mean(axis=1)
    if normalisation == "mean_div4":
        return mean / 4.0
    if normalisation == "mean_minmax":
        top = mean.max()
        return mean / top if top > 0 else mean
    if normalisation == "mean_div4_signed":
        return mean / 2.0 - 1.0
    raise ValueError(f"unknown saliency normalisation {normalisation!r}; known: {NORMALISATIONS}")


@dataclass
class FinetuneConfig:
    last_layers: int | None = 2  # None: every block (full fine-tuning)
    steps: int = 150
    videos_per_batch: int = 8  # N
    frames_per_video: int = 16  # K (all clips when a video has fewer)
    lr: float = 1e-4
    weight_decay: float = 0.0
    normalisation: str = "mean_div4"
    train_tables: bool = False  # full tuning: also the token-embedding tables
    cache_prefix: bool = True  # compute the frozen prefix once (all frames in memory); False: per batch
    seed: int = 0


FrameSource = Callable[..., np.ndarray]  # (vid, indices=None) -> uint8 frames, as VideoCorpus.frames


def _frames_of(source: Mapping[str, np.ndarray] | FrameSource, vid: str, indices: np.ndarray) -> np.ndarray:
    """The frames of clips ``indices`` of ``vid``; a clip beyond the last frame reads the last frame
    (as scoring repeats the last frame's score), never a neighbour's frame."""
    if isinstance(source, Mapping):
        frames = source[vid]
        return np.asarray(frames[clamp_indices(indices, len(frames), vid)])
    return np.asarray(source(vid, indices=indices))


def _clips_per_video(queries: Sequence[QvhQuery], clip_length: float) -> dict[str, int]:
    clips: dict[str, int] = {}
    for q in queries:
        clips[q.vid] = max(clips.get(q.vid, 0), q.num_clips(clip_length))
    return clips


def _features(tower: Tower, state: State, start: int) -> torch.Tensor:
    return nn.functional.normalize(tower.project(tower.pool(tower.run(state, start))), dim=-1)


def finetune(
    encoder: DualEncoder,
    frames: Mapping[str, np.ndarray] | FrameSource,
    queries: Sequence[QvhQuery],
    config: FinetuneConfig,
    curve: str | None = "hlclip/seed-",
    clip_length: float = 2.0,
    text_prefix: State | None = None,
) -> dict[str, object]:
    """Fine-tune ``encoder`` in place; returns the loss history and the trainable parameter counts.

    ``text_prefix``: the text tower's frozen prefix of the queries (``cached_prefix``), when computed once for
    several runs whose towers share it; None: computed here."""
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    counts = set_trainable(encoder, config.last_layers, config.train_tables)
    trainable = [p for p in encoder.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(trainable, lr=config.lr, weight_decay=config.weight_decay, fused=True)
    targets = [saliency_targets(q, config.normalisation, clip_length) for q in queries]
    image_start = frozen_prefix_blocks(encoder.image, config.last_layers)
    text_start = frozen_prefix_blocks(encoder.text, config.last_layers)
    texts = (  # queries are few: always cached
        cached_prefix(encoder.text, [q.query for q in queries], text_start)
        if text_prefix is None
        else text_prefix.to(encoder.device)
    )
    clips_of = _clips_per_video(queries, clip_length)
    image_cache: State | None = None
    offsets: dict[str, int] = {}
    if config.cache_prefix:
        # exactly one cached frame per clip the targets count (clamped), so offset + clip stays in the video
        stacked, total = [], 0
        for vid, clips in clips_of.items():
            clip_frames = _frames_of(frames, vid, np.arange(clips))
            offsets[vid] = total
            total += len(clip_frames)
            stacked.append(clip_frames)
        image_cache = cached_prefix(encoder.image, np.concatenate(stacked), image_start)
    history: list[float] = []
    order, cursor = rng.permutation(len(queries)), 0
    batch = min(config.videos_per_batch, len(queries))
    encoder.train()
    label = f"fine-tuning (last {config.last_layers} blocks)" if config.last_layers else "fine-tuning (all blocks)"
    for step in tqdm(range(config.steps), desc=f"{label}, seed {config.seed}", leave=False):
        if cursor + batch > len(order):
            order, cursor = rng.permutation(len(queries)), 0
        picked = order[cursor : cursor + batch]
        cursor += batch
        clip_index, owner, goal, loaded = [], [], [], []
        for position, qi in enumerate(picked):
            query = queries[int(qi)]
            clips = len(targets[qi])
            chosen = np.sort(rng.choice(clips, size=min(config.frames_per_video, clips), replace=False))
            goal.append(targets[qi][chosen])
            owner += [position] * len(chosen)
            if image_cache is not None:
                clip_index.append(offsets[query.vid] + chosen)
            else:
                loaded.append(_frames_of(frames, query.vid, chosen))  # decodes only the chosen clips
        if image_cache is not None:
            image_state = image_cache.select(np.concatenate(clip_index))
        else:
            with torch.no_grad():
                image_state = encoder.image.run(encoder.image.prepare(np.concatenate(loaded)), 0, image_start)
        image_z = _features(encoder.image, image_state, image_start)
        text_z = _features(encoder.text, texts.select(picked), text_start)
        owner_t = torch.as_tensor(owner, device=image_z.device)
        scores = (image_z * text_z[owner_t]).sum(-1)
        goal_t = torch.as_tensor(np.concatenate(goal), dtype=scores.dtype, device=scores.device)
        loss = nn.functional.mse_loss(scores, goal_t)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        value = float(loss.detach())
        history.append(value)
        if curve:
            log_curve({"mse": value}, step, curve)
    encoder.eval()
    return {"loss": history, "trainable": counts}


def score_queries(
    encoder: DualEncoder,
    frames: Mapping[str, np.ndarray] | FrameSource,
    queries: Sequence[QvhQuery],
    clip_length: float = 2.0,
    batch_size: int = 512,
) -> dict[int, np.ndarray]:
    """Cosine of every clip of each query's video with the query: ``{qid: (clips,) scores}``."""
    return score_with_encoders({"encoder": encoder}, frames, queries, clip_length, batch_size)["encoder"]


def score_with_encoders(
    encoders: Mapping[str, DualEncoder],
    frames: Mapping[str, np.ndarray] | FrameSource,
    queries: Sequence[QvhQuery],
    clip_length: float = 2.0,
    batch_size: int = 512,
    max_frames: int = 8192,
) -> dict[str, dict[int, np.ndarray]]:
    """``score_queries`` for several encoders: frames read once, text blocks the encoders share run once.

    Frames are embedded in large batches over chunks of videos (one pass per video would be
    dominated by call overhead on a CPU; all videos at once would not fit in memory on real data).
    Only the frames of the clips the evaluation counts are read: a video with fewer frames (real
    data, off by one) repeats its last frame (and so its score); extra frames are not decoded.
    """
    names = list(encoders)
    text_z = dict(zip(names, embed_texts_sharing_prefix([encoders[n] for n in names], [q.query for q in queries])))
    by_vid: dict[str, list[int]] = {}
    for i, q in enumerate(queries):
        by_vid.setdefault(q.vid, []).append(i)
    out: dict[str, dict[int, np.ndarray]] = {name: {} for name in names}
    chunk: list[tuple[str, np.ndarray]] = []
    held = 0

    def flush() -> None:
        starts = np.cumsum([0] + [len(f) for _, f in chunk])
        everything = np.concatenate([f for _, f in chunk])
        for name in names:
            image_z = encoders[name].embed_images(everything, batch_size)
            for v, (vid, _) in enumerate(chunk):
                for i in by_vid[vid]:
                    q = queries[i]
                    similarity = (image_z[starts[v] : starts[v + 1]] @ text_z[name][i]).numpy().astype(float)
                    clips = q.num_clips(clip_length)
                    scores = similarity[:clips]
                    if len(scores) < clips:
                        scores = np.concatenate([scores, np.full(clips - len(scores), scores[-1])])
                    out[name][q.qid] = scores

    clips_of = _clips_per_video(queries, clip_length)
    for vid in by_vid:  # videos in chunks of about max_frames frames: real videos do not all fit in memory
        frames_of_vid = _frames_of(frames, vid, np.arange(clips_of[vid]))  # one (clamped) frame per clip
        chunk.append((vid, frames_of_vid))
        held += len(frames_of_vid)
        if held >= max_frames:
            flush()
            chunk, held = [], 0
    if chunk:
        flush()
    return out


def random_scores(queries: Sequence[QvhQuery], seed: int, clip_length: float = 2.0) -> dict[int, np.ndarray]:
    """Uniform random clip scores (the chance baseline), deterministic in ``seed``."""
    rng = np.random.default_rng(seed)
    return {q.qid: rng.random(q.num_clips(clip_length)) for q in queries}


def finetune_checkpoint(
    checkpoint: dict,
    frames: Mapping[str, np.ndarray] | FrameSource,
    queries: Sequence[QvhQuery],
    config: FinetuneConfig,
    device: str = "cpu",
    text_prefix: State | None = None,
) -> tuple[dict, dict[str, object]]:
    """Load an encoder checkpoint, fine-tune it, return (the fine-tuned checkpoint, loss history and counts)."""
    encoder = load_encoder(checkpoint, device)
    result = finetune(encoder, frames, queries, config, curve=None, text_prefix=text_prefix)  # the caller logs it
    trained = trainable_names(encoder)
    meta = {**checkpoint.get("meta", {}), "finetune": {"last_layers": config.last_layers, "steps": config.steps}}
    return encoder_checkpoint(encoder.cpu(), checkpoint["config"], trained=trained, meta=meta), result
