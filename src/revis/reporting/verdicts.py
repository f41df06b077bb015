"""Statistical verdicts for comparison claims: holds / does not hold / inconclusive / not evaluable.

A claim compares a measured quantity ``metric`` with a ``baseline`` (another measured
quantity or a constant) in a stated ``direction``. The verdict comes from a one-sided test at
level ``alpha``:

- **holds**: the effect is in the claimed direction (beyond ``margin``) and the one-sided test
  in that direction rejects at ``alpha``;
- **does not hold**: the one-sided test in the *opposite* direction rejects at ``alpha``;
- **inconclusive**: neither (too few seeds, too much spread, or no effect);
- **not evaluable**: the claim could not be tested (a metric is missing, or a capability gate of the
  paper failed: see ``revis.reporting.claims``).

Measured quantities are the summaries that pipelines write into ``metrics.json``:
``{"mean", "std", "n", "values", "seeds"}`` (``reporting.summary.mean_std``) for numbers over
seeds, ``{"successes", "trials", "rate"}`` (``reporting.summary.proportion``) for counts, and
``{"x": [...], "y": [...]}`` for a correlation. Tests (scipy.stats):

========== =================================================== ==================================
test              compares                                          one-sided bound of the effect
================ ================================================= ===============================
paired_t          per-seed differences a_s - b_s (same seeds)        t bound of the mean difference
sign              signs of the per-seed differences (exact binomial)  order-statistic bound of the
                                                                     median difference (the effect
                                                                     shown is the median)
welch_t           two independent samples                            Welch-Satterthwaite t bound
one_sample        a sample against a constant                        t bound of the mean
fisher            two proportions (exact, Fisher)                    Newcombe hybrid score bound
binomial          a proportion against a constant rate (exact)       Wilson score bound
spearman          rank correlation of x and y against 0              Fisher-z bound of rho
spearman_per_seed per-seed rho of levels vs values, one-sample t     t bound of the mean rho
                  of the rhos (seeds are the units, not the pairs)
every_seed        every per-seed value beyond the baseline           the worst seed's difference
================ ================================================= ===============================

Each bound is the end of a two-sided (1 - 2 alpha) interval (``ci``; 90 % at alpha = 0.05) on the
claimed side, so a claim holds exactly when its bound clears the margin (up to ties and the
discreteness of exact tests). A sample without spread (n < 2, or per-seed differences all equal)
decides nothing: such a claim is inconclusive, with the reason stated. ``every_seed`` is a rule, not
a test: it holds when every seed clears the baseline and does not hold otherwise (threshold checks
such as "exceeds 90 %", and capability gates).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from scipy import stats

Direction = Literal["greater", "less"]
TestName = Literal[
    "paired_t", "sign", "welch_t", "one_sample", "fisher", "binomial", "spearman", "spearman_per_seed", "every_seed"
]
PAIRED = ("paired_t", "sign")
HOLDS, DOES_NOT_HOLD, INCONCLUSIVE, NOT_EVALUABLE = "holds", "does not hold", "inconclusive", "not evaluable"
NOT_EVALUATED = NOT_EVALUABLE  # the old name of the fourth verdict
TEST_LABELS = {
    "paired_t": "paired t",
    "sign": "sign test",
    "welch_t": "Welch t",
    "one_sample": "one-sample t",
    "fisher": "Fisher exact",
    "binomial": "exact binomial",
    "spearman": "Spearman",
    "spearman_per_seed": "Spearman per seed, t over seeds",
    "every_seed": "every seed",
}


@dataclass
class Verdict:
    verdict: str
    effect: float | None = None  # metric - baseline (difference of means / rates, median for sign, or rho)
    ci: tuple[float, float] | None = None  # two-sided (1 - 2 alpha) interval: its claimed-side end is `bound`
    p: float | None = None  # one-sided p-value in the claimed direction
    n: str = ""  # sample sizes, e.g. "5" or "5 vs 5" or "64/192 vs 20/192"
    test: str = ""
    reason: str = ""
    bound: float | None = None  # one-sided (1 - alpha) bound of the effect on the claimed side
    direction: Direction = "greater"  # the claimed side: `bound` is a lower bound for greater, upper for less

    @property
    def decided(self) -> bool:
        return self.verdict in (HOLDS, DOES_NOT_HOLD)


class SampleError(ValueError):
    """A metric does not hold the kind of sample that the claim's test needs."""


def _values(summary: Any, path: str) -> np.ndarray:
    if isinstance(summary, dict) and "values" in summary:
        values = summary["values"]
    elif isinstance(summary, list):
        values = summary
    elif isinstance(summary, (int, float)) and not isinstance(summary, bool):
        values = [summary]
    else:
        raise SampleError(f"`{path}` holds no per-seed values (a mean_std summary with 'values')")
    array = np.asarray([v for v in values if v is not None], dtype=float)
    if array.size != len(values):
        raise SampleError(f"`{path}` has missing (null) values")
    return array


def _counts(summary: Any, path: str) -> tuple[int, int]:
    if not (isinstance(summary, dict) and "successes" in summary and "trials" in summary):
        raise SampleError(f"`{path}` holds no counts (a proportion summary with 'successes' and 'trials')")
    return int(summary["successes"]), int(summary["trials"])


def _sign(direction: Direction) -> float:
    return 1.0 if direction == "greater" else -1.0


def _t_interval(mean: float, se: float, df: float, alpha: float) -> tuple[float, float]:
    """Two-sided (1 - 2 alpha) t interval: each end is a one-sided (1 - alpha) bound."""
    half = float(stats.t.ppf(1 - alpha, df)) * se
    return mean - half, mean + half


def _z(alpha: float) -> float:
    return float(stats.norm.ppf(1 - alpha))


def _bounded(verdict: Verdict, direction: Direction) -> Verdict:
    """Set the claimed-side end of ``ci`` as the verdict's one-sided bound."""
    verdict.direction = direction
    if verdict.ci is not None and verdict.bound is None:
        verdict.bound = verdict.ci[0] if direction == "greater" else verdict.ci[1]
    return verdict


def sign_bound(d: np.ndarray, direction: Direction, alpha: float) -> float:
    """Distribution-free one-sided (1 - alpha) bound of the median of ``d`` (the sign test's interval):
    the k-th order statistic with P(Binomial(n, 1/2) < k) <= alpha; -inf / +inf when n is too small."""
    n = d.size
    ks = np.flatnonzero(stats.binom.cdf(np.arange(n), n, 0.5) <= alpha) + 1  # one vectorised call
    if ks.size == 0:
        return -math.inf if direction == "greater" else math.inf
    k = int(ks.max())
    ordered = np.sort(d)
    return float(ordered[k - 1]) if direction == "greater" else float(ordered[n - k])


def _decide(p_claimed: float, p_opposite: float, alpha: float) -> str:
    if p_claimed < alpha:
        return HOLDS
    if p_opposite < alpha:
        return DOES_NOT_HOLD
    return INCONCLUSIVE


def wilson(successes: int, trials: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion."""
    if trials == 0:
        return 0.0, 1.0
    rate = successes / trials
    centre = (rate + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * math.sqrt(rate * (1 - rate) / trials + z * z / (4 * trials * trials)) / (1 + z * z / trials)
    return max(0.0, centre - half), min(1.0, centre + half)


def newcombe(sa: int, na: int, sb: int, nb: int, z: float = 1.959964) -> tuple[float, float]:
    """Newcombe's hybrid score interval for a difference of two proportions (his method 10)."""
    pa, pb = sa / na, sb / nb
    la, ua = wilson(sa, na, z)
    lb, ub = wilson(sb, nb, z)
    d = pa - pb
    return d - math.sqrt((pa - la) ** 2 + (ub - pb) ** 2), d + math.sqrt((ua - pa) ** 2 + (pb - lb) ** 2)


def _differences_verdict(d: np.ndarray, margin: float, direction: Direction, alpha: float, test: str) -> Verdict:
    """Paired and one-sample tests on ``d`` (per-seed differences, or values minus a constant)."""
    n = d.size
    effect = float(np.median(d)) if test == "sign" else float(d.mean())
    label = TEST_LABELS[test]
    if n < 2:
        return Verdict(INCONCLUSIVE, effect, None, None, str(n), label, "n = 1: no spread, nothing to test")
    sd = float(d.std(ddof=1))
    if sd <= 1e-9 * max(1.0, abs(effect)):  # float noise of identical differences is no spread
        sd = 0.0
    ci = _t_interval(effect, sd / math.sqrt(n), n - 1, alpha) if sd > 0 else (effect, effect)
    s = _sign(direction)
    if test == "sign":
        lower = sign_bound(d, "greater", alpha)
        upper = sign_bound(d, "less", alpha)
        ci = (lower, upper)
        above, below = int(np.sum(s * (d - s * margin) > 0)), int(np.sum(s * (d - s * margin) < 0))
        if above + below == 0:
            return Verdict(INCONCLUSIVE, effect, ci, None, str(n), label, "every difference ties the margin")
        p = float(stats.binomtest(above, above + below, 0.5, alternative="greater").pvalue)
        p_opposite = float(stats.binomtest(below, above + below, 0.5, alternative="greater").pvalue)
        return Verdict(_decide(p, p_opposite, alpha), effect, ci, p, str(n), label)
    if sd == 0:
        return Verdict(
            INCONCLUSIVE,
            effect,
            ci,
            None,
            str(n),
            label,
            "no spread: every seed gives the same difference (the seeds do not vary the result)",
        )
    shifted = s * (d - s * margin)  # > 0 in the claimed direction
    p = float(stats.ttest_1samp(shifted, 0.0, alternative="greater").pvalue)
    p_opposite = float(stats.ttest_1samp(shifted, 0.0, alternative="less").pvalue)
    return Verdict(_decide(p, p_opposite, alpha), effect, ci, p, str(n), label)


def evaluate_comparison(
    a: Any,
    b: Any,
    *,
    test: TestName,
    direction: Direction = "greater",
    margin: float = 0.0,
    alpha: float = 0.05,
    a_path: str = "metric",
    b_path: str = "baseline",
) -> Verdict:
    """Verdict for ``a`` (a summary) against ``b`` (a summary, or a number for one-sample tests), with
    its one-sided (1 - alpha) bound (``Verdict.bound``) on the claimed side."""
    verdict = _evaluate(a, b, test=test, direction=direction, margin=margin, alpha=alpha, a_path=a_path, b_path=b_path)
    return _bounded(verdict, direction)


def _paired(
    a: Any,
    b: Any,
    *,
    test: TestName,
    direction: Direction,
    margin: float,
    alpha: float,
    a_path: str,
    b_path: str,
) -> Verdict:
    """The ``paired_t`` / ``sign`` test of :func:`evaluate_comparison`."""
    va, vb = _values(a, a_path), _values(b, b_path)
    if va.size != vb.size:
        raise SampleError(f"paired test needs the same seeds: `{a_path}` has {va.size}, `{b_path}` {vb.size}")
    seeds_a, seeds_b = (x.get("seeds") if isinstance(x, dict) else None for x in (a, b))
    if seeds_a is not None and seeds_b is not None and list(seeds_a) != list(seeds_b):
        raise SampleError(f"paired test needs the same seeds: `{a_path}` {seeds_a}, `{b_path}` {seeds_b}")
    return _differences_verdict(va - vb, margin, direction, alpha, test)


def _one_sample(
    a: Any,
    b: Any,
    *,
    test: TestName,
    direction: Direction,
    margin: float,
    alpha: float,
    a_path: str,
    b_path: str,
) -> Verdict:
    """The ``one_sample`` test of :func:`evaluate_comparison`."""
    return _differences_verdict(_values(a, a_path) - float(b), margin, direction, alpha, test)


def _welch_t(
    a: Any,
    b: Any,
    *,
    test: TestName,
    direction: Direction,
    margin: float,
    alpha: float,
    a_path: str,
    b_path: str,
) -> Verdict:
    """The ``welch_t`` test of :func:`evaluate_comparison`."""
    s = _sign(direction)
    va, vb = _values(a, a_path), _values(b, b_path)
    effect = float(va.mean() - vb.mean())
    n = f"{va.size} vs {vb.size}"
    if va.size < 2 or vb.size < 2:
        return Verdict(INCONCLUSIVE, effect, None, None, n, TEST_LABELS[test], "a sample of 1: no spread")
    qa, qb = va.var(ddof=1) / va.size, vb.var(ddof=1) / vb.size
    if qa + qb == 0:
        return Verdict(INCONCLUSIVE, effect, (effect, effect), None, n, TEST_LABELS[test], "no spread in either sample")
    df = (qa + qb) ** 2 / ((qa**2 / (va.size - 1)) + (qb**2 / (vb.size - 1)))
    ci = _t_interval(effect, math.sqrt(qa + qb), df, alpha)
    shifted = va - s * margin
    alt, opp = ("greater", "less") if direction == "greater" else ("less", "greater")
    p = float(stats.ttest_ind(shifted, vb, equal_var=False, alternative=alt).pvalue)
    p_opposite = float(stats.ttest_ind(shifted, vb, equal_var=False, alternative=opp).pvalue)
    return Verdict(_decide(p, p_opposite, alpha), effect, ci, p, n, TEST_LABELS[test])


def _fisher(
    a: Any,
    b: Any,
    *,
    test: TestName,
    direction: Direction,
    margin: float,
    alpha: float,
    a_path: str,
    b_path: str,
) -> Verdict:
    """The ``fisher`` test of :func:`evaluate_comparison`."""
    (sa, na), (sb, nb) = _counts(a, a_path), _counts(b, b_path)
    if na == 0 or nb == 0:
        return Verdict(INCONCLUSIVE, None, None, None, f"{sa}/{na} vs {sb}/{nb}", TEST_LABELS[test], "no trials")
    if margin:
        raise SampleError("fisher does not take a margin")
    effect = sa / na - sb / nb
    table = [[sa, na - sa], [sb, nb - sb]]
    alt, opp = ("greater", "less") if direction == "greater" else ("less", "greater")
    p = float(stats.fisher_exact(table, alternative=alt).pvalue)
    p_opposite = float(stats.fisher_exact(table, alternative=opp).pvalue)
    return Verdict(
        _decide(p, p_opposite, alpha),
        effect,
        newcombe(sa, na, sb, nb, _z(alpha)),
        p,
        f"{sa}/{na} vs {sb}/{nb}",
        TEST_LABELS[test],
    )


def _binomial(
    a: Any,
    b: Any,
    *,
    test: TestName,
    direction: Direction,
    margin: float,
    alpha: float,
    a_path: str,
    b_path: str,
) -> Verdict:
    """The ``binomial`` test of :func:`evaluate_comparison`."""
    s = _sign(direction)
    sa, na = _counts(a, a_path)
    rate = float(b) + s * margin
    if na == 0:
        return Verdict(INCONCLUSIVE, None, None, None, f"{sa}/{na}", TEST_LABELS[test], "no trials")
    lo, hi = wilson(sa, na, _z(alpha))
    alt, opp = ("greater", "less") if direction == "greater" else ("less", "greater")
    p = float(stats.binomtest(sa, na, rate, alternative=alt).pvalue)
    p_opposite = float(stats.binomtest(sa, na, rate, alternative=opp).pvalue)
    return Verdict(
        _decide(p, p_opposite, alpha),
        sa / na - float(b),
        (lo - float(b), hi - float(b)),
        p,
        f"{sa}/{na}",
        TEST_LABELS[test],
    )


def _spearman(
    a: Any,
    b: Any,
    *,
    test: TestName,
    direction: Direction,
    margin: float,
    alpha: float,
    a_path: str,
    b_path: str,
) -> Verdict:
    """The ``spearman`` test of :func:`evaluate_comparison`."""
    if not (isinstance(a, dict) and "x" in a and "y" in a):
        raise SampleError(f"`{a_path}` holds no paired samples {{'x': [...], 'y': [...]}}")
    x, y = np.asarray(a["x"], dtype=float), np.asarray(a["y"], dtype=float)
    pairs = int(x.size)
    if pairs < 4:
        return Verdict(INCONCLUSIVE, None, None, None, str(pairs), TEST_LABELS[test], "fewer than 4 pairs")
    alt, opp = ("greater", "less") if direction == "greater" else ("less", "greater")
    rho = float(stats.spearmanr(x, y).statistic)
    if not math.isfinite(rho):
        return Verdict(INCONCLUSIVE, None, None, None, str(pairs), TEST_LABELS[test], "a constant sample")
    p = float(stats.spearmanr(x, y, alternative=alt).pvalue)
    p_opposite = float(stats.spearmanr(x, y, alternative=opp).pvalue)
    z, half = math.atanh(max(min(rho, 0.999999), -0.999999)), _z(alpha) * math.sqrt(1.06 / (pairs - 3))
    interval = (math.tanh(z - half), math.tanh(z + half))
    return Verdict(_decide(p, p_opposite, alpha), rho, interval, p, str(pairs), TEST_LABELS[test])


def _spearman_per_seed(
    a: Any,
    b: Any,
    *,
    test: TestName,
    direction: Direction,
    margin: float,
    alpha: float,
    a_path: str,
    b_path: str,
) -> Verdict:
    """The ``spearman_per_seed`` test of :func:`evaluate_comparison`."""
    rhos = per_seed_spearman(a, a_path)
    verdict = _differences_verdict(rhos - float(b), margin, direction, alpha, "one_sample")
    verdict.test = TEST_LABELS[test]
    verdict.effect = float(rhos.mean())
    if verdict.ci is not None:
        verdict.ci = (verdict.ci[0] + float(b), verdict.ci[1] + float(b))
    return verdict


def _every_seed(
    a: Any,
    b: Any,
    *,
    test: TestName,
    direction: Direction,
    margin: float,
    alpha: float,
    a_path: str,
    b_path: str,
) -> Verdict:
    """The ``every_seed`` test of :func:`evaluate_comparison`."""
    s = _sign(direction)
    va = _values(a, a_path)
    vb = _values(b, b_path) if isinstance(b, dict) else np.full(va.size, float(b))
    if va.size != vb.size:
        raise SampleError(f"every_seed needs the same seeds: `{a_path}` has {va.size}, `{b_path}` {vb.size}")
    d = va - vb
    worst = float(d.min()) if direction == "greater" else float(d.max())
    cleared = bool(np.all(s * (d - s * margin) > 0))
    shortfall = int(np.sum(s * (d - s * margin) <= 0))
    reason = "" if cleared else f"{shortfall} of {d.size} seeds short of the baseline"
    return Verdict(
        HOLDS if cleared else DOES_NOT_HOLD,
        float(d.mean()),
        (float(d.min()), float(d.max())),
        None,
        str(d.size),
        TEST_LABELS[test],
        reason,
        bound=worst,
    )


_TESTS = {
    "paired_t": _paired,
    "sign": _paired,
    "one_sample": _one_sample,
    "welch_t": _welch_t,
    "fisher": _fisher,
    "binomial": _binomial,
    "spearman": _spearman,
    "spearman_per_seed": _spearman_per_seed,
    "every_seed": _every_seed,
}


def _evaluate(
    a: Any,
    b: Any,
    *,
    test: TestName,
    direction: Direction = "greater",
    margin: float = 0.0,
    alpha: float = 0.05,
    a_path: str = "metric",
    b_path: str = "baseline",
) -> Verdict:
    try:
        run = _TESTS[test]
    except KeyError:
        raise SampleError(f"unknown test {test!r}") from None
    return run(a, b, test=test, direction=direction, margin=margin, alpha=alpha, a_path=a_path, b_path=b_path)


def per_seed_spearman(levels_values: Any, path: str) -> np.ndarray:
    """Per-seed Spearman rho of level against value, from ``{"levels": [...], "samples": [summary, ...]}``
    (one per-seed summary per level, same seeds). A seed whose values tie at every level has rho 0."""
    if not (isinstance(levels_values, dict) and "levels" in levels_values and "samples" in levels_values):
        raise SampleError(f"`{path}` holds no per-level samples over seeds")
    levels = np.asarray(levels_values["levels"], dtype=float)
    table = np.stack([_values(s, path) for s in levels_values["samples"]], axis=1)  # seeds x levels
    if levels.size < 3:
        raise SampleError(f"`{path}`: a per-seed rank correlation needs at least 3 levels")
    rhos = []
    for row in table:
        rho = float(stats.spearmanr(levels, row).statistic) if np.ptp(row) > 0 else 0.0
        rhos.append(rho if math.isfinite(rho) else 0.0)
    return np.asarray(rhos)


def benjamini_hochberg(p_values: list[float]) -> list[float]:
    """Benjamini-Hochberg adjusted p-values (q-values), in the input's order."""
    m = len(p_values)
    if m == 0:
        return []
    order = np.argsort(p_values)
    ranked = np.asarray(p_values, dtype=float)[order] * m / np.arange(1, m + 1)
    adjusted = np.minimum.accumulate(ranked[::-1])[::-1].clip(max=1.0)
    q = np.empty(m)
    q[order] = adjusted
    return [float(v) for v in q]
