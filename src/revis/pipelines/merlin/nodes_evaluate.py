"""``merlin-evaluate``: five rounds per query for every questioner, alpha convention and answer noise; controls."""

from __future__ import annotations

import functools
from typing import Any

import matplotlib.pyplot as plt

from revis.config.runtime import ComputeParams
from revis.datasets.qvhighlights import VideoCorpus
from revis.pipelines.merlin.params import EvaluateParams
from revis.retrieval.bundles import MerlinFeatures
from revis.retrieval.experiment import (
    LoopSettings,
    MerlinRuns,
    chat_backend,
    conditions,
    make_questioner,
    runs_artifact,
    simulate,
)
from revis.retrieval.metrics import MerlinMetrics, ZeroShotMetrics, merlin_metrics
from revis.retrieval.pictures import example_figure, recall_figure
from revis.retrieval.real_loop import RealLoopMetrics, real_report
from revis.runtime import apply_runtime
from revis.vl.checkpoint import EncoderBundle


def report_metrics(
    features: MerlinFeatures,
    encoders: EncoderBundle,
    videos: VideoCorpus,
    compute: ComputeParams,
    evaluate: EvaluateParams,
) -> tuple[MerlinRuns | dict[str, Any], MerlinMetrics | ZeroShotMetrics | RealLoopMetrics, plt.Figure, plt.Figure]:
    """Ranks per round for every condition and seed; R@1/5/10, MdR, MnR as mean +- sd over seeds; pictures."""
    device = apply_runtime(compute.device, compute.threads)
    settings = LoopSettings(
        evaluate.rounds,
        evaluate.alpha,
        evaluate.top_k,
        evaluate.user_restates,
        evaluate.llm.on_error,
        evaluate.learned_queries,
        evaluate.learned_background,
    )
    questioner = functools.partial(make_questioner, llm=evaluate.llm)
    if features["kind"] == "real":  # the paper-scale overlay: round 0, or the loop over real frames
        arms = conditions(evaluate.questioners, evaluate.conventions, [0.0], evaluate.control)
        answers = chat_backend(evaluate.llm, 0) if evaluate.llm.aggregate_answers else None
        return real_report(features, arms, settings, questioner, answers, device)
    world = videos.world()
    if world is None:
        raise ValueError("merlin-evaluate needs the mini world's videos (world.json) for the simulated user")
    seeds = list(features["seeds"])
    arms = conditions(evaluate.questioners, evaluate.conventions, evaluate.noise, evaluate.control, evaluate.learned)
    simulation = simulate(features, encoders, world["videos"], arms, settings, questioner, device)
    gallery = len(features["vids"])
    metrics = merlin_metrics(simulation, seeds, settings, features["pooling"], arms[0].name, gallery)
    curves = {name: metrics.rounds[name] for name in simulation.ranks}
    title = f"merlin: {gallery} videos, {len(seeds)} seeds"
    figure = recall_figure(curves, evaluate.rounds, metrics.chance, title)
    return runs_artifact(simulation, arms), metrics, figure, example_figure(simulation.example)
