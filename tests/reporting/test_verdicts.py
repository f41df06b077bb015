"""Verdicts on hand-computed cases: three outcomes, intervals, and samples that decide nothing."""

import math

import numpy as np
import pytest

from revis.reporting.summary import mean_std, proportion
from revis.reporting.verdicts import (
    DOES_NOT_HOLD,
    HOLDS,
    INCONCLUSIVE,
    SampleError,
    benjamini_hochberg,
    evaluate_comparison,
    newcombe,
    sign_bound,
    wilson,
)


def test_paired_t_holds_when_every_seed_gains_clearly():
    # d = [0.1, 0.15, 0.2]: mean 0.15, sd 0.05, t = 0.15 / (0.05 / sqrt 3) = 5.196 on 2 df, one-sided p = 0.0176
    v = evaluate_comparison(mean_std([0.5, 0.6, 0.7]), mean_std([0.4, 0.45, 0.5]), test="paired_t")
    assert v.verdict == HOLDS
    assert v.effect == pytest.approx(0.15)
    assert v.p == pytest.approx(0.0176, abs=2e-4)
    half = 2.919986 * 0.05 / math.sqrt(3)  # t(0.95, 2): the interval is two-sided 90 %, each end a one-sided 95 %
    assert v.ci == pytest.approx((0.15 - half, 0.15 + half))
    assert v.bound == pytest.approx(0.15 - half) and v.bound > 0  # holds, and its bound clears zero
    less = evaluate_comparison(mean_std([0.4, 0.45, 0.5]), mean_std([0.5, 0.6, 0.7]), test="paired_t", direction="less")
    assert less.verdict == HOLDS and less.bound == pytest.approx(-0.15 + half)  # an upper bound for "less"


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


def test_one_sided_bounds_agree_with_the_verdict_on_every_test():
    """A claim holds exactly when its one-sided bound clears zero (continuous tests)."""
    cases = [
        (mean_std([0.5, 0.6, 0.7]), mean_std([0.4, 0.45, 0.5]), "paired_t"),
        (mean_std([0.6, 0.4, 0.55]), mean_std([0.5, 0.5, 0.5]), "paired_t"),
        (mean_std([4, 5, 6]), mean_std([1, 2, 3]), "welch_t"),
        (mean_std([4, 5, 6]), mean_std([3, 6, 2]), "welch_t"),
        (mean_std([0.9, 0.95, 0.92]), 0.9, "one_sample"),
        (mean_std([0.95, 0.97, 0.96]), 0.9, "one_sample"),
    ]
    for a, b, test in cases:
        v = evaluate_comparison(a, b, test=test)
        assert (v.verdict == HOLDS) == (v.bound > 0), (test, v)
    # exact tests: the score bound sits on the same side as the decision here
    fisher = evaluate_comparison(proportion(30, 40), proportion(10, 40), test="fisher")
    assert fisher.verdict == HOLDS and fisher.bound > 0 and fisher.bound < fisher.effect
    rate = evaluate_comparison(proportion(10, 10), 0.5, test="binomial")
    assert rate.verdict == HOLDS and rate.bound == pytest.approx(wilson(10, 10, 1.644854)[0] - 0.5)


def test_sign_test_shows_the_median_and_its_order_statistic_bound():
    d = [0.5, 1.0, 2.0, 3.0, 100.0, 4.0, 5.0, 6.0]  # one outlier: the mean is 15.2, the median 3.5
    v = evaluate_comparison(mean_std(d), mean_std([0.0] * 8), test="sign")
    assert v.effect == pytest.approx(3.5) and v.verdict == HOLDS and v.p == pytest.approx(1 / 256)
    # P(Bin(8, 1/2) <= 1) = 9/256 <= 0.05 < P(<= 2) = 37/256: the 2nd smallest difference bounds the median
    assert v.bound == pytest.approx(1.0)
    assert sign_bound(np.asarray([1.0, 2.0, 3.0]), "greater", 0.05) == -math.inf  # 3 seeds bound nothing


def test_every_seed_holds_only_when_each_seed_clears_the_threshold():
    above = evaluate_comparison(mean_std([0.95, 0.91, 0.99]), 0.9, test="every_seed")
    assert above.verdict == HOLDS and above.bound == pytest.approx(0.01) and above.p is None
    one_short = evaluate_comparison(mean_std([0.99, 0.99, 0.89]), 0.9, test="every_seed")
    assert one_short.verdict == DOES_NOT_HOLD and "1 of 3 seeds" in one_short.reason
    paired = evaluate_comparison(mean_std([0.5, 0.6]), mean_std([0.4, 0.61]), test="every_seed")
    assert paired.verdict == DOES_NOT_HOLD  # seed 1 is below its own baseline
    lower = evaluate_comparison(mean_std([0.01, 0.02]), 0.05, test="every_seed", direction="less")
    assert lower.verdict == HOLDS and lower.bound == pytest.approx(-0.03)


def test_spearman_per_seed_tests_the_seeds_not_the_pairs():
    rising = [mean_std([0.1, 0.2, 0.0]), mean_std([0.2, 0.3, 0.1]), mean_std([0.3, 0.5, 0.2])]
    v = evaluate_comparison({"levels": [1, 2, 3], "samples": rising}, 0.0, test="spearman_per_seed")
    assert v.effect == pytest.approx(1.0) and v.n == "3"
    assert v.verdict == INCONCLUSIVE and "no spread" in v.reason  # every seed rho = 1: the t test has no spread
    mixed = [mean_std([0.1, 0.3, 0.0, 0.1]), mean_std([0.2, 0.2, 0.1, 0.3]), mean_std([0.3, 0.1, 0.2, 0.2])]
    m = evaluate_comparison({"levels": [1, 2, 3], "samples": mixed}, 0.0, test="spearman_per_seed")
    # per-seed rho: 1, -1, 1, 0.5 -> mean 0.375 over 4 seeds, not the 12 pairs
    assert m.effect == pytest.approx(0.375) and m.n == "4" and m.verdict == INCONCLUSIVE
    ties = [mean_std([0.0, 0.1, 0.2]), mean_std([0.0, 0.2, 0.3]), mean_std([0.0, 0.3, 0.5])]
    t = evaluate_comparison({"levels": [1, 2, 3], "samples": ties}, 0.0, test="spearman_per_seed")
    assert t.effect == pytest.approx(2 / 3)  # a seed tied at every level counts rho = 0


def test_benjamini_hochberg_matches_hand_computation():
    # sorted p 0.01, 0.02, 0.03, 0.5 with m = 4: 0.04, 0.04, 0.04, 0.5
    assert benjamini_hochberg([0.5, 0.01, 0.03, 0.02]) == pytest.approx([0.5, 0.04, 0.04, 0.04])
    assert benjamini_hochberg([0.04, 0.9]) == pytest.approx([0.08, 0.9])
    assert benjamini_hochberg([]) == []
