"""Verdicts on hand-computed cases: three outcomes, intervals, and samples that decide nothing."""

import math

import pytest

from revis.reporting.summary import mean_std, proportion
from revis.reporting.verdicts import (
    DOES_NOT_HOLD,
    HOLDS,
    INCONCLUSIVE,
    SampleError,
    evaluate_comparison,
    newcombe,
    wilson,
)


def test_paired_t_holds_when_every_seed_gains_clearly():
    # d = [0.1, 0.15, 0.2]: mean 0.15, sd 0.05, t = 0.15 / (0.05 / sqrt 3) = 5.196 on 2 df, one-sided p = 0.0176
    v = evaluate_comparison(mean_std([0.5, 0.6, 0.7]), mean_std([0.4, 0.45, 0.5]), test="paired_t")
    assert v.verdict == HOLDS
    assert v.effect == pytest.approx(0.15)
    assert v.p == pytest.approx(0.0176, abs=2e-4)
    half = 4.302653 * 0.05 / math.sqrt(3)  # t(0.975, 2)
    assert v.ci == pytest.approx((0.15 - half, 0.15 + half))


def test_paired_t_does_not_hold_when_significant_the_other_way_and_is_inconclusive_otherwise():
    a, b = mean_std([0.5, 0.6, 0.7]), mean_std([0.4, 0.45, 0.5])
    assert evaluate_comparison(b, a, test="paired_t").verdict == DOES_NOT_HOLD
    assert evaluate_comparison(a, b, test="paired_t", direction="less").verdict == DOES_NOT_HOLD
    noisy = evaluate_comparison(mean_std([0.6, 0.4, 0.55]), mean_std([0.5, 0.5, 0.5]), test="paired_t")
    assert noisy.verdict == INCONCLUSIVE and noisy.p > 0.05


def test_a_margin_must_be_cleared():
    a, b = mean_std([0.5, 0.6, 0.7]), mean_std([0.4, 0.45, 0.5])
    assert evaluate_comparison(a, b, test="paired_t", margin=0.14).verdict == INCONCLUSIVE
    assert evaluate_comparison(a, b, test="paired_t", margin=0.3).verdict == DOES_NOT_HOLD


def test_one_value_or_identical_differences_decide_nothing():
    single = evaluate_comparison(mean_std([0.9]), mean_std([0.1]), test="paired_t")
    assert single.verdict == INCONCLUSIVE and "no spread" in single.reason
    constant = evaluate_comparison(mean_std([0.9, 0.8]), mean_std([0.8, 0.7]), test="paired_t")
    assert constant.verdict == INCONCLUSIVE and "seeds do not vary" in constant.reason
    assert evaluate_comparison(mean_std([0.9]), 0.5, test="one_sample").verdict == INCONCLUSIVE


def test_paired_tests_refuse_samples_that_do_not_pair():
    with pytest.raises(SampleError, match="same seeds"):
        evaluate_comparison(mean_std([1, 2, 3]), mean_std([1, 2]), test="paired_t")
    with pytest.raises(SampleError, match="same seeds"):
        evaluate_comparison(mean_std([1, 2], seeds=[0, 1]), mean_std([1, 2], seeds=[0, 2]), test="sign")
    with pytest.raises(SampleError, match="per-seed values"):
        evaluate_comparison({"mean": 0.5}, mean_std([1, 2]), test="paired_t")


def test_welch_t():
    # [1,2,3] vs [4,5,6]: diff -3, se sqrt(1/3 + 1/3) = 0.8165, t = -3.674 on 4 df, one-sided p = 0.0107
    v = evaluate_comparison(mean_std([1, 2, 3]), mean_std([4, 5, 6]), test="welch_t")
    assert v.verdict == DOES_NOT_HOLD and v.effect == pytest.approx(-3)
    assert v.p == pytest.approx(1 - 0.0107, abs=2e-4)
    assert evaluate_comparison(mean_std([4, 5, 6]), mean_std([1, 2, 3]), test="welch_t").verdict == HOLDS


def test_sign_test_is_exact():
    five = evaluate_comparison(mean_std([2, 3, 4, 5, 6]), mean_std([1, 1, 1, 1, 1]), test="sign")
    assert five.verdict == HOLDS and five.p == pytest.approx(1 / 32)
    three = evaluate_comparison(mean_std([2, 3, 4]), mean_std([1, 1, 1]), test="sign")
    assert three.verdict == INCONCLUSIVE and three.p == pytest.approx(1 / 8)  # 3 seeds can never reach 0.05


def test_proportions_fisher_and_binomial():
    v = evaluate_comparison(proportion(30, 40), proportion(10, 40), test="fisher")
    assert v.verdict == HOLDS and v.effect == pytest.approx(0.5)
    # P(X >= 7 | n = 10, p = 0.5) = 176 / 1024
    b = evaluate_comparison(proportion(7, 10), 0.5, test="binomial")
    assert b.verdict == INCONCLUSIVE and b.p == pytest.approx(176 / 1024)
    assert evaluate_comparison(proportion(10, 10), 0.5, test="binomial").verdict == HOLDS


def test_score_intervals_match_published_values():
    assert wilson(5, 10) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    # Newcombe (1998), example (a): 56/70 vs 48/80 -> 0.0524 to 0.3339
    assert newcombe(56, 70, 48, 80) == pytest.approx((0.0524, 0.3339), abs=1e-4)
    assert proportion(5, 10)["ci95"] == pytest.approx([0.2366, 0.7634], abs=1e-4)


def test_spearman():
    v = evaluate_comparison({"x": [1, 2, 3, 4, 5, 6], "y": [2, 4, 5, 7, 8, 9]}, 0.0, test="spearman")
    assert v.verdict == HOLDS and v.effect == pytest.approx(1.0)
    few = evaluate_comparison({"x": [1, 2, 3], "y": [1, 2, 3]}, 0.0, test="spearman")
    assert few.verdict == INCONCLUSIVE


def test_summaries_use_the_sample_standard_deviation():
    s = mean_std([1.0, 2.0, 3.0], seeds=[0, 1, 2])
    assert s["std"] == pytest.approx(1.0) and s["n"] == 3 and s["values"] == [1, 2, 3] and s["seeds"] == [0, 1, 2]
    assert mean_std([4.0])["std"] is None
    with pytest.raises(ValueError):
        mean_std([1.0, 2.0], seeds=[0])
