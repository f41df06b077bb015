"""csod's metric pieces (revis.selection.results) on hand-made rows."""

import pytest

from revis.selection.results import Grid, _Comparisons, coverage_table, gaps, noise_estimates, scale_text


def run(label: str, budget: int, seed: int, ap50: float, halves: tuple[float, float] | None = None) -> dict:
    halves = halves or (ap50, ap50)
    return {"label": label, "budget": budget, "seed": seed, "ap50": ap50, "ap50_halves": list(halves), "reused": False}


def test_gap_and_resolution_pair_seeds():
    runs = [run("csod", 2, s, 0.5 + 0.1 * s) for s in (0, 1, 2)] + [run("random", 2, s, 0.4) for s in (0, 1, 2)]
    comparisons = _Comparisons(
        {("csod", 2): runs[:3], ("random", 2): runs[3:]},
        alpha=0.05,
    )
    grid = Grid(
        methods=["random", "csod"], budgets=[2], seeds=[0, 1, 2], main_lam=1.0, sweep_values=[], sweep_budgets=[]
    )
    gap = gaps(comparisons, grid)["b2"]
    assert gap["values"] == pytest.approx([0.1, 0.2, 0.3]) and gap["seeds"] == [0, 1, 2]
    resolution = comparisons.resolution["csod_minus_random"]["b2"]
    assert resolution["n"] == 3 and resolution["sd"] == pytest.approx(0.1)
    assert resolution["detectable"] > 0


def test_noise_from_the_halves_of_the_test_split():
    runs = [run("csod", 2, 0, 0.5, (0.49, 0.51)), run("random", 2, 0, 0.4, (0.41, 0.39))]
    noise = noise_estimates(runs, {("csod", 2): runs[:1], ("random", 2): runs[1:]}, [2])
    assert noise["test_split_sd_ap50"] == pytest.approx(0.01)  # halves 0.02 apart -> sd 0.01
    assert noise["test_split_sd_csod_minus_random"] == pytest.approx(0.02)  # half differences 0.08 and 0.12: 0.04 apart
    assert noise["seed_sd_ap50"] is None  # one seed per arm


def test_coverage_is_averaged_over_seeds():
    subsets = [
        {"label": "csod", "budget": 2, "coverage": {"classes_covered": c, "min_boxes_per_class": 1, "boxes": 4}}
        for c in (2, 3)
    ]
    assert coverage_table(subsets)["csod"]["b2"] == {"classes_covered": 2.5, "min_boxes_per_class": 1.0, "boxes": 4.0}


def test_scale_names_the_budgets_as_shares_of_the_pool():
    text = scale_text(pool=100, test_images=20, budgets=[20, 10], seeds=3, steps=250)
    assert "budgets [10, 20] (10-20 % of the pool)" in text and "3 whole-chain seeds" in text
