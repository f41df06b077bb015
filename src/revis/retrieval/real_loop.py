"""MERLIN's interactive loop on a real benchmark, as the merlin pipeline runs it under the paper-scale overlay.

``merlin-features`` (``load_real``): the benchmark's queries (MERLIN's MSR-VTT subset --
``msrvtt_1ka`` in its order, last caption per video -- or the MSR-VTT / MSVD / ActivityNet
readers), then either pre-extracted embeddings (MERLIN's layout; round 0 only) or, given a video
folder and a local CLIP folder, every video's frames read one per ``every_seconds`` s (MERLIN's
sampling), embedded by the CLIP image tower and mean-pooled into the gallery, the queries embedded
by its text tower. The per-frame embeddings are kept: the answerer reads them.

``merlin-evaluate`` (``real_report``): round 0 from the stored embeddings; with frame embeddings,
the loop of ``revis.retrieval.interactive.run_rounds`` per arm (questioner x alpha convention, and
the negative control answering about a random other video): the questioner reads the anchors'
captions (MERLIN's GPT-4V captions from ``captions/<vid>`` where given, else the answerer's
description of the frames), ``FrameAnswerer`` answers from the target's frame embeddings
(optionally aggregated by the chat backend, as MERLIN's LLM does), CLIP embeds the answer, SLERP
folds it in. R@1/5/10, MdR, MnR per round and arm (one "seed": nothing is seeded but the control
videos and the LLM's sampling).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch

from revis.datasets.imageset import DataError
from revis.reporting.summary import mean_std
from revis.retrieval.bundles import RealFeatures
from revis.retrieval.embedding import CachedTextEmbedder, pool_frames, vl_text_fn
from revis.retrieval.experiment import Condition, LoopSettings, QuestionerFactory
from revis.retrieval.interactive import run_rounds, transcript
from revis.retrieval.llm import ChatBackend
from revis.retrieval.metrics import GAINS, MEASURES, ZeroShotMetrics, zero_shot_metrics
from revis.retrieval.open_loop import ClipGallery, EmbeddedFrameUser, FrameAnswerer
from revis.retrieval.pictures import example_figure, recall_figure, zero_shot_figure
from revis.retrieval.queries import Query
from revis.retrieval.ranking import rank_metrics
from revis.retrieval.real_data import READERS, load_embeddings, read_msrvtt_merlin


@dataclass(frozen=True)
class RealSource:
    """Where a real benchmark lives (``merlin.features.real``)."""

    dataset: str
    annotations: str | None = None
    embeddings: str | None = None
    limit: int | None = None
    id_list: str | None = None  # MERLIN's msrvtt_1ka: its order, the last caption per video
    train_annotations: str | None = None  # read before ``annotations`` (MERLIN: train_val, then test)
    videos: str | None = None  # <videos>/TestVideo, <videos>/TrainValVideo or <videos>/<vid>.mp4
    clip_path: str | None = None  # a local CLIPModel folder (save_pretrained)
    captions: str | None = None  # <captions>/<vid>: the anchor caption the questioner reads
    every_seconds: float = 1.0
    max_frames: int | None = None


def benchmark_pairs(source: RealSource) -> list[tuple[str, str]]:
    """``[(video_id, query)]``: MERLIN's MSR-VTT subset when ``id_list`` is given, else the dataset's reader."""
    if not source.annotations:
        raise DataError(f"merlin.features.real needs the annotations of {source.dataset}")
    if source.id_list:
        if source.dataset != "msrvtt":
            raise DataError(f"merlin.features.real.id_list is MERLIN's MSR-VTT subset, not for {source.dataset}")
        files = [f for f in (source.train_annotations, source.annotations) if f]
        return read_msrvtt_merlin(source.id_list, list(files), source.limit)
    return READERS[source.dataset](source.annotations)[: source.limit]


def anchor_captions(folder: str | None, vids: Sequence[str]) -> list[str]:
    """MERLIN's GPT-4V captions (``<folder>/<vid>``, a JSON string or plain text); "" where absent."""
    out = []
    for vid in vids:
        file = Path(folder) / vid if folder else None
        if file is None or not file.is_file():
            out.append("")
            continue
        text = file.read_text().strip()
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = text
        out.append(parsed if isinstance(parsed, str) else text)
    return out


def clip_encoder(clip_path: str, device: torch.device | str = "cpu") -> Any:
    from revis.vl.checkpoint import build_encoder

    return build_encoder({"kind": "clip", "clip_path": clip_path}).to(device)


def embed_videos(source: RealSource, vids: Sequence[str], gallery: ClipGallery) -> list[np.ndarray]:
    """Per video, the CLIP embeddings of its frames, one frame per ``every_seconds`` s (MERLIN's sampling)."""
    from revis.datasets.videofile import find_video, read_video_frames

    root = Path(source.videos or "")
    folders = [root / "TestVideo", root / "TrainValVideo", root]
    out = []
    for vid in vids:
        frames = read_video_frames(find_video(folders, vid), source.every_seconds, source.max_frames)
        out.append(gallery.frames(frames))
    return out


def load_real(source: RealSource, device: torch.device | str = "cpu") -> RealFeatures:
    """``merlin.features`` of a real benchmark: pre-extracted embeddings, or CLIP over the videos' frames."""
    pairs = benchmark_pairs(source)
    vids, texts = [v for v, _ in pairs], [s for _, s in pairs]
    base: dict[str, Any] = {"kind": "real", "dataset": source.dataset, "seeds": [0], "vids": vids, "captions": texts}
    base["targets"] = list(range(len(vids)))
    if not source.videos:
        if not source.embeddings:
            raise DataError(f"merlin.features.real needs embeddings, or videos and clip_path, for {source.dataset}")
        base["query_z"] = torch.from_numpy(load_embeddings(source.embeddings, vids, "text"))
        base["gallery"] = torch.from_numpy(load_embeddings(source.embeddings, vids, "video"))
        return RealFeatures(**base)  # type: ignore[typeddict-item]
    if not source.clip_path:
        raise DataError("merlin.features.real.videos needs clip_path (a local CLIP folder)")
    gallery = ClipGallery(clip_encoder(source.clip_path, device))
    frame_z = embed_videos(source, vids, gallery)
    base["gallery"] = torch.from_numpy(np.stack([pool_frames(z) for z in frame_z]))
    base["query_z"] = torch.from_numpy(gallery.texts(texts))
    base["frame_z"] = [torch.from_numpy(np.asarray(z, dtype=np.float32)) for z in frame_z]
    base["clip_path"] = source.clip_path
    base["anchor_captions"] = anchor_captions(source.captions, vids)
    return RealFeatures(**base)  # type: ignore[typeddict-item]


@dataclass(frozen=True)
class RealLoopMetrics:
    """``reports/merlin/metrics.json`` of a real benchmark with the loop: round 0 and every round per arm."""

    zero_shot: dict[str, float]
    rounds: dict[str, dict[str, dict[str, Any]]]  # arm -> round<r> -> measure -> mean_std over the one seed
    gain: dict[str, dict[str, Any]]  # arm -> r1 | r10 | mnr: last round minus round 0
    questions_per_query: dict[str, float]
    answered_per_round: dict[str, list[int]]
    llm_errors: dict[str, int]
    gallery: int
    queries: int
    chance: dict[str, float]
    scale: str


def _arm_metrics(ranks: np.ndarray) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    table = [rank_metrics(r) for r in ranks]
    rounds = {f"round{r}": {m: mean_std([row[m]], [0]) for m in MEASURES} for r, row in enumerate(table)}
    gain = {m: mean_std([table[-1][m] - table[0][m]], [0]) for m in GAINS}
    return rounds, gain


def run_real_loop(
    features: RealFeatures,
    arms: Sequence[Condition],
    settings: LoopSettings,
    questioner: QuestionerFactory,
    answer_backend: ChatBackend | None = None,
    device: torch.device | str = "cpu",
) -> tuple[dict[str, Any], RealLoopMetrics]:
    """Every arm's rounds on the stored frame embeddings; the runs (ranks, dialogues' example) and metrics."""
    vids = features["vids"]
    encoder = clip_encoder(features["clip_path"], device)
    answerer = FrameAnswerer(ClipGallery(encoder), backend=answer_backend)
    frame_z = {vid: z.numpy() for vid, z in zip(vids, features["frame_z"])}
    given = features.get("anchor_captions") or [""] * len(vids)
    shown = [c or answerer.describe_embedded(frame_z[v]) for c, v in zip(given, vids)]
    queries = [
        Query(i, vids[t], t, 0, (), text) for i, (t, text) in enumerate(zip(features["targets"], features["captions"]))
    ]
    rng = np.random.default_rng([0, 31])
    others = [vids[(q.target + 1 + int(rng.integers(max(1, len(vids) - 1)))) % len(vids)] for q in queries]
    embedder = CachedTextEmbedder(vl_text_fn(encoder))
    user = EmbeddedFrameUser(answerer, frame_z)
    zero_shot, _ = zero_shot_metrics(features)
    runs: dict[str, Any] = {"vids": list(vids), "captions": shown, "ranks": {}, "example": None}
    rounds, gain, asked, answered, errors = {}, {}, {}, {}, {}
    for arm in arms:
        result = run_rounds(
            queries, features["query_z"].numpy(), features["gallery"].numpy(), shown, questioner(arm.questioner, 0),
            user, embedder, settings.rounds, settings.alpha, arm.convention, min(settings.top_k, len(vids)),
            others if arm.control else None, settings.on_error,
        )  # fmt: skip
        runs["ranks"][arm.name] = result.ranks.tolist()
        if runs["example"] is None:
            best = int(np.argmax(result.ranks[0] - result.ranks[-1]))
            runs["example"] = {
                **transcript(result, best, queries),
                "chosen": f"the query whose target gained most ({arm.name})",
            }
        rounds[arm.name], gain[arm.name] = _arm_metrics(result.ranks)
        asked[arm.name] = float(result.asked.sum() / len(queries))
        answered[arm.name] = [int(a) for a in result.answered]
        errors[arm.name] = len(result.errors) + len(answerer.errors)
        answerer.errors.clear()
    metrics = RealLoopMetrics(
        zero_shot=zero_shot.zero_shot,
        rounds=rounds,
        gain=gain,
        questions_per_query=asked,
        answered_per_round=answered,
        llm_errors=errors,
        gallery=len(vids),
        queries=len(queries),
        chance=zero_shot.chance,
        scale=(
            f"{features['dataset']}: {len(queries)} queries vs {len(vids)} videos; local CLIP over frames "
            f"(mean-pooled), frame answerer, {settings.rounds} rounds, alpha {settings.alpha}"
        ),
    )
    return runs, metrics


def real_report(
    features: RealFeatures,
    arms: Sequence[Condition],
    settings: LoopSettings,
    questioner: QuestionerFactory,
    answer_backend: ChatBackend | None = None,
    device: torch.device | str = "cpu",
) -> tuple[dict[str, Any], ZeroShotMetrics | RealLoopMetrics, plt.Figure, plt.Figure]:
    """``merlin-evaluate`` of a real benchmark: round 0 alone (pre-extracted embeddings) or the loop."""
    if "frame_z" not in features:
        zero_shot, ranks = zero_shot_metrics(features)
        return {"ranks": ranks.tolist()}, zero_shot, zero_shot_figure(zero_shot), example_figure(None)
    runs, metrics = run_real_loop(features, arms, settings, questioner, answer_backend, device)
    title = f"merlin: {metrics.scale}"
    figure = recall_figure(metrics.rounds, settings.rounds, metrics.chance, title)
    return runs, metrics, figure, example_figure(runs["example"])
