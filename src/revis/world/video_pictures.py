"""Pictures of the video world, read back through the QVHighlights reader (statistics: ``video_statistics``)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np

from revis.datasets.qvhighlights import VideoCorpus


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
