"""``videos-ingest``: thin adapters over ``revis.world.videos``."""

from __future__ import annotations

import matplotlib.pyplot as plt

from revis.datasets.qvhighlights import VideoCorpus
from revis.pipelines.videos.params import Params
from revis.world.video_pictures import video_strips_figure
from revis.world.video_statistics import CorpusStatistics, video_statistics
from revis.world.videos import VideoWorld, WorldConfig, generate_video_world


def _pair(bounds: list[int]) -> tuple[int, int]:
    """An ``IntRange`` of params.yaml (``[low, high]``, validated) as the generator's pair."""
    return bounds[0], bounds[1]


def make_videos(p: Params) -> VideoWorld:
    """Videos, queries with saliency, captions and families; saved as a QVHighlights folder."""
    config = WorldConfig(
        seed=p.seed,
        n_families=p.n_families,
        family_size=_pair(p.family_size),
        clips=_pair(p.clips),
        image_size=p.image_size,
        events=_pair(p.events),
        segment_length=_pair(p.segment_length),
        gap=_pair(p.gap),
        distractor_share=p.distractor_share,
        queries_per_video=p.queries_per_video,
        extra_attribute=p.extra_attribute,
        background_in_query=p.background_in_query,
        annotators=p.annotators,
        annotator_bias=p.annotator_bias,
        annotator_noise=p.annotator_noise,
        noise=p.noise,
        split_fractions=(p.split_fractions[0], p.split_fractions[1], p.split_fractions[2]),
    )
    return generate_video_world(config)


def report_metrics(videos: VideoCorpus) -> CorpusStatistics:
    """Counts read back from disk: videos, queries, window lengths, saliency, content novelty."""
    return video_statistics(videos)


def plot_videos(videos: VideoCorpus) -> plt.Figure:
    """A few training videos as strips with their query and the annotators' saliency."""
    return video_strips_figure(videos, "train", n_queries=4)
