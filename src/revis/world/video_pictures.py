"""Statistics and pictures of the video world, read back through the QVHighlights reader."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np

from revis.datasets.imageset import DataError
from revis.datasets.qvhighlights import VideoCorpus
from revis.world.videos import content_key


def _spread(values: Sequence[float]) -> dict[str, float]:
    array = np.asarray(values, dtype=float)
    return {"mean": float(array.mean()), "min": float(array.min()), "max": float(array.max())}


def video_world_statistics(corpus: VideoCorpus) -> dict[str, Any]:
    """Counts per split, highlight window lengths, saliency histogram, annotator agreement, novelty."""
    stats: dict[str, Any] = {"videos": {}, "queries": {}}
    queries = []
    clips_per_video = []
    for split in corpus.splits:
        split_queries = corpus.split(split)
        stats["queries"][split] = len(split_queries)
        stats["videos"][split] = len(corpus.video_ids(split))
        queries += split_queries
        for vid in corpus.video_ids(split):
            frames = corpus.frames(vid)
            clips_per_video.append(len(frames))
            needed = max(q.num_clips(corpus.clip_length) for q in split_queries if q.vid == vid)
            if len(frames) < needed:
                raise DataError(f"video {vid} has {len(frames)} frames for {needed} clips")
    labelled = [q for q in queries if q.labelled]
    windows = [(end - start) / corpus.clip_length for q in labelled for start, end in q.relevant_windows or ()]
    scores = np.concatenate([np.asarray(q.saliency_scores).ravel() for q in labelled])
    differences = [
        float(np.abs(np.asarray(q.saliency_scores)[:, a] - np.asarray(q.saliency_scores)[:, b]).mean())
        for q in labelled
        for a, b in combinations(range(np.asarray(q.saliency_scores).shape[1]), 2)
    ]
    stats["clips_per_video"] = _spread(clips_per_video)
    stats["highlights"] = {
        "window_clips": _spread(windows),
        "windows_per_query": float(np.mean([len(q.relevant_windows or ()) for q in labelled])),
        "relevant_share": float(np.mean([len(q.relevant_clip_ids or ()) / q.num_clips() for q in labelled])),
        "saliency_histogram": np.bincount(scores.astype(int), minlength=5).tolist(),
        "very_good_share": float(np.mean(scores >= 4)),
        "annotator_mean_abs_difference": float(np.mean(differences)),
    }
    world = corpus.world()
    if world:
        videos = world["videos"]
        family_splits: dict[int, set[str]] = {}
        for video in videos.values():
            family_splits.setdefault(video["family"], set()).add(video["split"])
        contents = {
            split: {content_key(v, c) for v in videos.values() if v["split"] == split for c in range(len(v["clips"]))}
            for split in corpus.splits
        }
        stats["families"] = {
            "count": len(family_splits),
            "crossing_splits": sum(len(s) > 1 for s in family_splits.values()),
            "near_duplicates": sum(v["variant"] is not None for v in videos.values()),
        }
        stats["contents"] = {split: len(keys) for split, keys in contents.items()}
        if "val" in contents and "train" in contents:
            stats["contents"]["val_unseen_in_train"] = len(contents["val"] - contents["train"])
        stats["named_attributes_per_query"] = float(np.mean([len(m["named"]) for m in world["queries"].values()]))
        stats["distinct_query_texts"] = len({q.query for q in queries})
    return stats


def video_strips_figure(corpus: VideoCorpus, split: str, n_queries: int = 4, max_clips: int = 40) -> plt.Figure:
    """Per query: the video's frames as a strip and the annotators' mean saliency per clip under it."""
    queries = [q for q in corpus.split(split) if q.labelled][:n_queries]
    fig, axes = plt.subplots(2 * len(queries), 1, figsize=(14, 2.3 * len(queries)), squeeze=False)
    for row, query in enumerate(queries):
        frames = corpus.frames(query.vid)[:max_clips]
        strip_axis, bar_axis = axes[2 * row, 0], axes[2 * row + 1, 0]
        strip_axis.imshow(np.concatenate(list(frames), axis=1), interpolation="nearest")
        strip_axis.set_axis_off()
        strip_axis.set_title(f"qid {query.qid} ({query.vid}): \u201c{query.query}\u201d", fontsize=9, loc="left")
        saliency = query.saliency(corpus.clip_length)[: len(frames)]
        clips = np.arange(len(saliency))
        bar_axis.bar(clips, saliency.mean(1), color="tab:orange", width=0.9)
        bar_axis.set_xlim(-0.5, len(frames) - 0.5)
        bar_axis.set_ylim(0, 4)
        bar_axis.set_ylabel("saliency", fontsize=8)
        bar_axis.tick_params(labelsize=7)
    fig.suptitle(f"mini-world videos ({split}): one frame per 2-s clip; bars: mean of the annotators' 0-4 scores")
    fig.tight_layout()
    return fig
