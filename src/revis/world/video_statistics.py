"""``reports/videos/metrics.json``: statistics of a QVHighlights-layout corpus read back from disk, and of the
mini world's ground truth when the corpus is one (families, contents, vagueness)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np

from revis.datasets.imageset import DataError
from revis.datasets.qvhighlights import QvhQuery, VideoCorpus
from revis.world.videos import content_key


@dataclass(frozen=True)
class CorpusStatistics:
    """Counts per split, video lengths, and the highlights the annotators marked."""

    videos: dict[str, int]  # split -> videos
    queries: dict[str, int]  # split -> queries
    clips_per_video: dict[str, float]  # mean, min, max
    highlights: dict[str, Any]  # window lengths, windows per query, relevant share, saliency histogram, agreement
    scale: str  # what was measured, in words


@dataclass(frozen=True)
class WorldStatistics(CorpusStatistics):
    """:class:`CorpusStatistics` of the mini world, with what its ground truth tells."""

    families: dict[str, int]  # count, crossing_splits (must be 0), near_duplicates
    contents: dict[str, int]  # split -> distinct contents; val_unseen_in_train
    named_attributes_per_query: float
    distinct_query_texts: int


def _spread(values: Sequence[float]) -> dict[str, float]:
    array = np.asarray(values, dtype=float)
    return {"mean": float(array.mean()), "min": float(array.min()), "max": float(array.max())}


def _highlights(labelled: Sequence[QvhQuery], clip_length: float) -> dict[str, Any]:
    windows = [(end - start) / clip_length for q in labelled for start, end in q.relevant_windows or ()]
    scores = np.concatenate([np.asarray(q.saliency_scores).ravel() for q in labelled])
    differences = [
        float(np.abs(np.asarray(q.saliency_scores)[:, a] - np.asarray(q.saliency_scores)[:, b]).mean())
        for q in labelled
        for a, b in combinations(range(np.asarray(q.saliency_scores).shape[1]), 2)
    ]
    return {
        "window_clips": _spread(windows),
        "windows_per_query": float(np.mean([len(q.relevant_windows or ()) for q in labelled])),
        "relevant_share": float(np.mean([len(q.relevant_clip_ids or ()) / q.num_clips() for q in labelled])),
        "saliency_histogram": np.bincount(scores.astype(int), minlength=5).tolist(),
        "very_good_share": float(np.mean(scores >= 4)),
        "annotator_mean_abs_difference": float(np.mean(differences)),
    }


def _world_facts(corpus: VideoCorpus, world: dict[str, Any], queries: Sequence[QvhQuery]) -> dict[str, Any]:
    videos = world["videos"]
    family_splits: dict[int, set[str]] = {}
    for video in videos.values():
        family_splits.setdefault(video["family"], set()).add(video["split"])
    contents = {
        split: {content_key(v, c) for v in videos.values() if v["split"] == split for c in range(len(v["clips"]))}
        for split in corpus.splits
    }
    counts = {split: len(keys) for split, keys in contents.items()}
    if "val" in contents and "train" in contents:
        counts["val_unseen_in_train"] = len(contents["val"] - contents["train"])
    return {
        "families": {
            "count": len(family_splits),
            "crossing_splits": sum(len(s) > 1 for s in family_splits.values()),
            "near_duplicates": sum(v["variant"] is not None for v in videos.values()),
        },
        "contents": counts,
        "named_attributes_per_query": float(np.mean([len(m["named"]) for m in world["queries"].values()])),
        "distinct_query_texts": len({q.query for q in queries}),
    }


def _scale(videos: dict[str, int], queries: dict[str, int], clip_length: float, mini_world: bool) -> str:
    corpus = "the mini video world" if mini_world else "a QVHighlights-layout corpus"
    splits = ", ".join(f"{split} {videos[split]} videos / {queries[split]} queries" for split in videos)
    return f"{corpus} read back from disk: {splits}; clips of {clip_length:g} s"


def video_statistics(corpus: VideoCorpus) -> CorpusStatistics:
    """Counts per split, highlight window lengths, saliency histogram, annotator agreement, novelty."""
    videos: dict[str, int] = {}
    counts: dict[str, int] = {}
    queries: list[QvhQuery] = []
    clips_per_video = []
    for split in corpus.splits:
        split_queries = corpus.split(split)
        counts[split] = len(split_queries)
        videos[split] = len(corpus.video_ids(split))
        queries += split_queries
        for vid in corpus.video_ids(split):
            frames = corpus.frames(vid)
            clips_per_video.append(len(frames))
            needed = max(q.num_clips(corpus.clip_length) for q in split_queries if q.vid == vid)
            if len(frames) < needed:
                raise DataError(f"video {vid} has {len(frames)} frames for {needed} clips")
    world = corpus.world()
    common = CorpusStatistics(
        videos=videos,
        queries=counts,
        clips_per_video=_spread(clips_per_video),
        highlights=_highlights([q for q in queries if q.labelled], corpus.clip_length),
        scale=_scale(videos, counts, corpus.clip_length, bool(world)),
    )
    if not world:
        return common
    return WorldStatistics(**vars(common), **_world_facts(corpus, world, queries))
