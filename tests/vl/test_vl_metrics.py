"""vl-evaluate's metrics from hand-made per-seed retrieval results (revis.vl.metrics)."""

import pytest

from revis.reporting.results import to_json
from revis.vl.metrics import SeedRetrieval, TrainedVlMetrics, VlMetrics, describe_model, vl_metrics

RETRIEVAL = SeedRetrieval(
    seeds=[0, 1],
    values={
        "r1": [0.25, 0.75],
        "r5": [0.5, 1.0],
        "chance_r1": [0.1, 0.1],
        "chance_r5": [0.5, 0.5],
        "gallery": [10, 10],
        "queries": [40, 40],
        "temperature": [0.05, 0.07],
    },
)


def test_summaries_over_seeds_chance_and_sizes():
    metrics = vl_metrics(RETRIEVAL, [1, 5], {}, "mini-world val", "a model")
    assert type(metrics) is VlMetrics  # nothing trained here: no final loss
    assert metrics.zero_shot["r1"]["mean"] == 0.5 and metrics.zero_shot["r1"]["seeds"] == [0, 1]
    assert metrics.zero_shot["r5"]["values"] == [0.5, 1.0]
    assert metrics.chance == {"r1": 0.1, "r5": 0.5}
    assert (metrics.gallery_texts, metrics.query_frames) == (10, 40)
    assert metrics.temperature["mean"] == pytest.approx(0.06)
    assert metrics.scale == "mini-world val: 40 frames vs 10 distinct texts; a model; 2 seeds"
    assert "final_loss" not in to_json(metrics)


def test_trained_encoders_report_the_mean_of_their_last_20_losses():
    histories = {"seed0": {"loss": [9.0] * 5 + [1.0] * 20}, "seed1": {"loss": [3.0] * 20}}
    metrics = vl_metrics(RETRIEVAL, [1], histories, "w", "m")
    assert isinstance(metrics, TrainedVlMetrics)
    assert metrics.final_loss["values"] == [1.0, 3.0]
    assert set(to_json(metrics)) == {
        "zero_shot",
        "chance",
        "gallery_texts",
        "query_frames",
        "temperature",
        "scale",
        "final_loss",
    }


def test_model_description():
    tiny = {
        "kind": "tiny",
        "image": {"name": "tiny_vit", "width": 16, "depth": 2, "patch": 8},
        "text_head": "mlp",
        "embed_dim": 16,
    }
    assert describe_model(tiny) == "tiny_vit w16 d2 p8 + MiniLM-L6 (frozen) with a mlp head, 16-d"
    assert describe_model({"kind": "clip", "clip_path": "/m"}) == "CLIP from /m"
