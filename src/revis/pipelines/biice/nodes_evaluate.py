"""``biice-evaluate``: accuracy, localization, faithfulness, contributions, convergence over seeds, the learning-rate
choice; five pictures."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt

from revis.concepts import pictures
from revis.concepts.data import load_concept_data
from revis.concepts.metrics import BiiceMetrics, collect_scores, first_split, summarize_study
from revis.pipelines.biice.params import DataParams, EvaluateParams


def report_metrics(
    attributions: dict[str, Any],
    histories: dict[str, Any],
    shapes: dict[str, Any],
    data: DataParams,
    evaluate: EvaluateParams,
) -> tuple[BiiceMetrics, plt.Figure, plt.Figure, plt.Figure, plt.Figure, plt.Figure]:
    """metrics.json (every measure as mean and sample sd over seeds, paired by seed) and five pictures."""
    loaded = load_concept_data(shapes, data.dataset, data.root, data.image_size, data.rule_min_frequency)
    scores = collect_scores(attributions, histories, loaded, evaluate.iou_threshold, evaluate.random_maps)
    metrics = summarize_study(scores, loaded, attributions, histories)
    test, per, variants = loaded.test, scores.per, scores.concept_variants
    names = list(test.concept_names)
    figures = (
        pictures.concept_maps(
            test, attributions["runs"], first_split(scores, attributions)["picture_index"], scores.assignments, names
        ),
        pictures.contributions(per, variants, names, test.class_names, loaded.rules),
        pictures.convergence(per, variants),
        pictures.deletion(per, variants),
        pictures.rate_selection(histories),
    )
    return metrics, *figures
