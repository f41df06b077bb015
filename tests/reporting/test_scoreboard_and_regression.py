import json
import subprocess
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from revis.pipelines.scoreboard.pipeline import claimed_pipelines
from revis.reporting.claims import ClaimsFile, counted_claim_problems, evaluate_check, evaluate_claim, lookup
from revis.reporting.regression import check, compare, family_k, main
from revis.reporting.scoreboard import judge, scoreboard_markdown, scoreboard_verdicts
from revis.reporting.summary import flat_numbers, mean_std
from revis.reporting.verdicts import benjamini_hochberg

REPO = Path(__file__).resolve().parents[2]
CLAIMS = {
    "paper": "demo",
    "title": "Demo paper",
    "claims": [
        {
            "id": "a",
            "kind": "paper",
            "claim": "ours beats random",
            "published": "48.9 vs 46.2",
            "compare": {"metric": "ours", "baseline": "random", "test": "paired_t"},
        },
        {
            "id": "b",
            "kind": "paper",
            "claim": "beats 0.9",
            "compare": {"metric": "ours", "baseline": 0.9, "test": "one_sample"},
        },
        {
            "id": "c",
            "kind": "paper",
            "claim": "random beats ours",
            "compare": {"metric": "random", "baseline": "ours", "test": "paired_t"},
        },
        {
            "id": "d",
            "kind": "paper",
            "claim": "missing metric",
            "compare": {"metric": "nothing.here", "baseline": "ours", "test": "paired_t"},
        },
        {"id": "e", "kind": "sanity", "claim": "loss is finite", "check": "loss < 2"},
    ],
    "regression": [
        {"metric": "*.mean", "direction": "higher", "tolerance": 0.02},
        {"metric": "loss", "direction": "lower", "tolerance": 0.1},
        {"metric": "*.std", "direction": "ignore"},
    ],
}
METRICS = {
    "ours": mean_std([0.8, 0.9, 0.85], seeds=[0, 1, 2]),
    "random": mean_std([0.5, 0.6, 0.5], seeds=[0, 1, 2]),
    "scale": "tiny",
    "loss": 1.0,
}


def test_checks_read_paths_and_numbers():
    assert evaluate_check("ours.mean > random.mean", METRICS).holds is True
    assert evaluate_check("ours.mean >= 0.9", METRICS).holds is False
    assert evaluate_check("x.y < 2", METRICS).holds is None
    with pytest.raises(ValueError):
        evaluate_check("ours.mean ~ 1", METRICS)


def test_paper_claims_need_a_test_and_ids_are_unique():
    bad = {**CLAIMS, "claims": [{"id": "x", "kind": "paper", "claim": "c", "check": "loss < 2"}]}
    with pytest.raises(ValidationError, match="needs a `compare` test"):
        ClaimsFile.model_validate(bad)
    with pytest.raises(ValidationError, match="duplicate claim or gate ids"):
        ClaimsFile.model_validate({**CLAIMS, "claims": [CLAIMS["claims"][0], CLAIMS["claims"][0]]})
    with pytest.raises(ValidationError, match="two measured quantities"):
        ClaimsFile.model_validate(
            {
                **CLAIMS,
                "claims": [{**CLAIMS["claims"][0], "compare": {"metric": "a", "baseline": 1, "test": "paired_t"}}],
            }
        )


def test_scoreboard_shows_effect_bound_test_and_four_verdicts():
    board = scoreboard_markdown({"demo": (CLAIMS, METRICS)})
    assert "Scale: tiny" in board and "48.9 vs 46.2" in board and "0.85 ± 0.05 (n=3)" in board
    rows = [line for line in board.splitlines() if line.startswith("| ours beats") or line.startswith("| beats")]
    # effect, its one-sided 95 % bound, test, p, q and leave-one-seed-out stability
    assert "paired t (3)" in rows[0] and "+0.317 (≥ +0.268)" in rows[0] and rows[0].endswith("| holds |")
    verdicts = [evaluate_claim(c, METRICS).verdict for c in ClaimsFile.model_validate(CLAIMS).claims]
    assert verdicts == ["holds", "inconclusive", "does not hold", "not evaluable", "holds"]
    # the headline counts paper claims only; the sanity check is listed apart
    assert (
        "Paper claims: 1 hold (1 after Benjamini–Hochberg at q = 0.05; 1 unstable: stability below 100 %), 1 do "
        in board
    )
    assert "1 not evaluable" in board and "Sanity checks (not counted): 1 pass, 0 fail, 0 inconclusive" in board
    assert "| demo | 1 | 1 | 1 | 1 | 1 | 0/0 |" in board


GATED = {
    "paper": "demo",
    "title": "Gated demo",
    "gates": [
        {
            "id": "learns",
            "gate": "ours reaches 0.7 on every seed",
            "compare": {"metric": "ours", "baseline": 0.7, "test": "every_seed"},
        },
        {
            "id": "strong",
            "gate": "ours reaches 0.88 on every seed",
            "compare": {"metric": "ours", "baseline": 0.88, "test": "every_seed"},
        },
    ],
    "claims": [
        {**CLAIMS["claims"][0], "gates": ["learns"]},
        {**CLAIMS["claims"][0], "id": "needs_strong", "gates": ["learns", "strong"]},
        {**CLAIMS["claims"][0], "id": "by_default"},  # default: every gate of the file
        {**CLAIMS["claims"][0], "id": "elsewhere", "gates": ["other:capable"]},
        {**CLAIMS["claims"][0], "id": "own_question", "kind": "extension", "gates": []},
        {
            "id": "threshold",
            "kind": "sanity",
            "claim": "above 0.75",
            "compare": {"metric": "ours", "baseline": 0.75, "test": "every_seed"},
        },
        {
            "id": "noisy",
            "kind": "sanity",
            "claim": "noisy",
            "compare": {"metric": "ours", "baseline": 0.84, "test": "one_sample"},
        },
    ],
}
OTHER = {
    "paper": "other",
    "title": "Other",
    "gates": [{"id": "capable", "gate": "never", "check": "loss < 0.5"}],
}


def test_gates_make_claims_not_evaluable_with_the_gates_numbers():
    judged = judge({"demo": (GATED, METRICS), "other": (OTHER, METRICS)})
    gates = {g.item.id: g.verdict.verdict for g in judged["demo"].gates}
    assert gates == {"learns": "holds", "strong": "does not hold"}  # seed values 0.8, 0.9, 0.85
    rows = {r.item.id: r for r in judged["demo"].rows}
    assert rows["a"].verdict.verdict == "holds" and rows["a"].gates == ["demo:learns"]
    assert rows["needs_strong"].verdict.verdict == "not evaluable"
    assert rows["needs_strong"].tested.verdict == "holds"  # the test itself is kept for the reader
    assert "gate demo:strong does not hold" in rows["needs_strong"].verdict.reason
    assert (
        "worst seed -0.08" in rows["needs_strong"].verdict.reason
        and "2 of 3 seeds short" in rows["by_default"].verdict.reason
    )
    assert rows["elsewhere"].failed_gates == ["other:capable"]  # another paper's gate, decided there
    assert rows["threshold"].gates == [] and rows["threshold"].verdict.verdict == "holds"  # sanity: no default gates
    board = scoreboard_markdown({"demo": (GATED, METRICS), "other": (OTHER, METRICS)})
    assert "Capability gates: 1 of 3 pass" in board
    assert "Extensions (not counted): 1 hold" in board and "Extensions (our own questions" in board
    # the sanity headline counts every outcome: one pass, one inconclusive
    assert "Sanity checks (not counted): 1 pass, 0 fail, 1 inconclusive, 0 not evaluated" in board
    assert "| demo | 1 | 1 | 0 | 0 | 3 | 1/2 |" in board
    alone = judge({"demo": (GATED, METRICS)})["demo"].rows
    assert next(r for r in alone if r.item.id == "elsewhere").failed_gates == ["other:capable"]  # unknown: fails
    verdicts = scoreboard_verdicts({"demo": (GATED, METRICS), "other": (OTHER, METRICS)})
    assert verdicts["total"]["not_evaluable"] == 3 and verdicts["extension"]["holds"] == 1
    assert verdicts["claims"]["demo"]["needs_strong"]["failed_gates"] == ["demo:strong"]


def test_unknown_gate_names_are_refused():
    bad = {**GATED, "claims": [{**CLAIMS["claims"][0], "gates": ["nope"]}]}
    with pytest.raises(ValidationError, match="unknown gates"):
        ClaimsFile.model_validate(bad)


def test_q_values_and_stability_per_row():
    claims = {
        "paper": "demo",
        "title": "d",
        "gates": [{"id": "g", "gate": "g", "check": "loss < 2"}],
        "claims": [
            {
                "id": f"c{i}",
                "kind": "paper",
                "claim": "c",
                "compare": {"metric": m, "baseline": "random", "test": "paired_t"},
            }
            for i, m in enumerate(["ours", "same", "ours_noisy"])
        ],
    }
    metrics = {
        **METRICS,
        "same": mean_std([0.5, 0.6, 0.5], seeds=[0, 1, 2]),
        "ours_noisy": mean_std([0.9, 0.55, 0.6], seeds=[0, 1, 2]),
    }
    rows = {r.item.id: r for r in judge({"demo": (claims, metrics)})["demo"].rows}
    ps = [rows[f"c{i}"].verdict.p or 1.0 for i in range(3)]  # c1 has no spread: p None counts as 1
    assert [rows[f"c{i}"].q for i in range(3)] == pytest.approx(benjamini_hochberg(ps))
    assert rows["c0"].survives_bh and not rows["c2"].survives_bh
    # differences 0.3, 0.3, 0.35: leaving out seed 0 or 1 still holds (t = 13 > t(0.95, 1) = 6.31); leaving
    # out seed 2 leaves two equal differences, no spread, inconclusive
    assert rows["c0"].stability == pytest.approx(2 / 3)
    assert rows["c1"].stability == 1.0  # inconclusive whichever seed is left out
    # the headline counts c0 as a hold and as unstable (leaving out seed 2 makes it inconclusive)
    assert "; 1 unstable: stability below 100 %)" in scoreboard_markdown({"demo": (claims, metrics)})


def test_stability_of_a_test_over_items_is_a_bootstrap_of_the_items():
    # 40 paired items of one frozen model: the seeds' leave-one-out makes no sense there, the items are resampled
    claims = {
        "paper": "demo",
        "title": "d",
        "claims": [
            {
                "id": f"c{i}",
                "kind": "extension",
                "claim": "c",
                "compare": {"metric": m, "baseline": "base", "test": "sign"},
            }
            for i, m in enumerate(["clear", "marginal"])
        ],
    }
    base = [0.0] * 40
    metrics = {
        "base": mean_std(base),
        "clear": mean_std([1.0] * 36 + [-1.0] * 4),  # 36 of 40 above: every resample holds
        "marginal": mean_std([1.0] * 26 + [-1.0] * 14),  # 26 of 40: p 0.04, a resample flips it often
    }
    rows = {r.item.id: r for r in judge({"demo": (claims, metrics)})["demo"].rows}
    assert rows["c0"].verdict.verdict == "holds" and rows["c0"].stability == 1.0
    assert rows["c0"].stability_unit == rows["c1"].stability_unit == "items"
    assert rows["c1"].verdict.verdict == "holds" and 0.2 < rows["c1"].stability < 0.8
    again = {r.item.id: r for r in judge({"demo": (claims, metrics)})["demo"].rows}
    assert again["c1"].stability == rows["c1"].stability  # one fixed draw
    assert "(items)" in scoreboard_markdown({"demo": (claims, metrics)})


def test_counted_claims_need_a_gate_a_measured_baseline_and_spread():
    claims = ClaimsFile.model_validate(
        {
            "paper": "demo",
            "title": "d",
            "claims": [
                {
                    "id": "const",
                    "kind": "paper",
                    "claim": "c",
                    "compare": {"metric": "ours", "baseline": 0.9, "test": "one_sample"},
                },
                {
                    "id": "single",
                    "kind": "paper",
                    "claim": "c",
                    "compare": {"metric": "loss", "baseline": "ours", "test": "paired_t"},
                },
            ],
        }
    )
    problems = counted_claim_problems(claims, METRICS)
    assert "demo.const: no capability gate" in problems
    assert "demo.const: constant baseline 0.9 is not flagged `chance: true`" in problems
    assert "demo.single: `loss` has no per-seed spread (n < 2, or a single number)" in problems
    chance = claims.model_copy(deep=True)
    chance.gates = ClaimsFile.model_validate(GATED).gates
    chance.claims[0].compare.chance = True  # type: ignore[union-attr]
    assert [p for p in counted_claim_problems(chance, METRICS) if "const" in p] == []


def test_every_committed_counted_claim_is_a_real_test():
    """Every counted paper claim has a gate, a measured baseline (or chance, flagged) and per-seed spread."""
    problems = [
        p for claims, metrics in _committed_claims_and_metrics() for p in counted_claim_problems(claims, metrics)
    ]
    assert not problems, "\n".join(problems)


def test_every_committed_gate_reference_resolves():
    files = {claims.paper: claims for claims, _ in _committed_claims_and_metrics()}
    known = {f"{c.paper}:{g.id}" for c in files.values() for g in c.gates}
    for claims in files.values():
        for claim in claims.claims:
            missing = [ref for ref in claims.gates_of(claim) if ref not in known]
            assert not missing, f"{claims.paper}.{claim.id}: unknown gates {missing}"


def test_compare_flags_regressions_by_direction_and_tolerance():
    rules = ClaimsFile.model_validate(CLAIMS)
    new = {"ours": mean_std([0.75, 0.8, 0.8]), "random": mean_std([0.55, 0.6, 0.5]), "loss": 1.05, "extra": 3}
    findings, unruled = compare("demo", METRICS, new, rules)
    regressed = {f.metric for f in findings if f.regressed}
    assert regressed == {"ours.mean"}  # random.mean within tolerance, loss within tolerance
    assert "ours.n" in unruled and "extra" in unruled
    gone, _ = compare("demo", METRICS, {"random": METRICS["random"]}, rules)
    assert {f.metric for f in gone if f.regressed} == {"ours.mean", "loss"}  # vanished metrics regress


def test_regression_cli_against_a_git_revision(tmp_path, capsys):
    (tmp_path / "reports" / "demo").mkdir(parents=True)
    (tmp_path / "claims").mkdir()
    (tmp_path / "claims" / "demo.yaml").write_text(yaml.safe_dump(CLAIMS))
    metrics_file = tmp_path / "reports" / "demo" / "metrics.json"
    metrics_file.write_text(json.dumps(METRICS))
    git(tmp_path, "init", "-q")
    git(tmp_path, "-c", "user.email=t@t", "-c", "user.name=t", "add", "-A")
    git(tmp_path, "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "reference")
    assert main(["--repo", str(tmp_path)]) == 0
    metrics_file.write_text(json.dumps({**METRICS, "ours": mean_std([0.1, 0.2])}))
    assert main(["--repo", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "ours.mean" in out and "1 regressed" in out
    findings, _ = check(tmp_path)
    assert [f.metric for f in findings if f.regressed] == ["ours.mean"]
    assert subprocess.run(["git", "status", "--porcelain"], cwd=tmp_path, capture_output=True).returncode == 0


def test_claims_files_pair_with_pipelines_that_write_metrics():
    from kedro.framework.project import pipelines
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(REPO)
    writers = {name for name, p in pipelines.items() if f"{name}.metrics" in p.all_outputs()}
    assert writers == set(claimed_pipelines())
    for name in writers:
        ClaimsFile.model_validate(yaml.safe_load((REPO / "claims" / f"{name}.yaml").read_text()))


def test_every_committed_metric_has_a_regression_rule():
    for metrics_file in sorted((REPO / "reports").glob("*/metrics.json")):
        rules = ClaimsFile.model_validate(
            yaml.safe_load((REPO / "claims" / f"{metrics_file.parent.name}.yaml").read_text())
        )
        unruled = [m for m in flat_numbers(json.loads(metrics_file.read_text())) if rules.rule_for(m) is None]
        assert not unruled, f"{metrics_file}: no regression rule for {unruled[:5]}"


def git(root, *args):
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True).stdout


def _committed_claims_and_metrics():
    for claims_file in sorted((REPO / "claims").glob("*.yaml")):
        metrics_file = REPO / "reports" / claims_file.stem / "metrics.json"
        claims = ClaimsFile.model_validate(yaml.safe_load(claims_file.read_text()))
        yield claims, json.loads(metrics_file.read_text()) if metrics_file.exists() else {}


def test_no_committed_paper_claim_is_decided_from_a_single_value():
    """A verdict of holds / does not hold needs spread: n >= 2 per compared sample (or counts)."""
    for claims, metrics in _committed_claims_and_metrics():
        for claim in claims.claims:
            verdict = evaluate_claim(claim, metrics, claims.alpha)
            if claim.kind != "paper" or not verdict.decided:
                continue
            compare = claim.compare
            for path in [compare.metric, compare.baseline]:
                if not isinstance(path, str):
                    continue
                value = lookup(metrics, path)
                if isinstance(value, dict) and "values" in value:
                    assert len(value["values"]) >= 2, f"{claims.paper}.{claim.id}: `{path}` has one value"
                elif compare.test not in ("one_sample", "binomial", "spearman") or path != compare.baseline:
                    assert isinstance(value, dict) and ("successes" in value or "x" in value), (
                        f"{claims.paper}.{claim.id}: `{path}` is a single number, not a sample"
                    )


SPREAD_RULES = {
    "paper": "demo",
    "title": "d",
    "regression": [
        {"metric": "acc.*.mean", "direction": "higher", "tolerance": "spread"},
        {"metric": "per_item.*", "direction": "higher", "tolerance": "spread", "scale": "per_item.*"},
        {"metric": "fid.rate", "direction": "higher", "tolerance": "spread"},
        {"metric": "*", "direction": "ignore"},
    ],
}


def _spread_metrics(shared_teacher=(0.327, 0.326, 0.328)):
    return {
        "acc": {
            "a": mean_std([0.80, 0.85, 0.83], seeds=[0, 1, 2]),
            "b": mean_std([0.60, 0.66, 0.62], seeds=[0, 1, 2]),
            "shared": mean_std(list(shared_teacher), seeds=[0, 1, 2]),  # seeds that share upstream agree closely
        },
        "per_item": {"red": 0.64, "blue": 0.43, "green": 0.27, "square": 0.22},
        "fid": {"successes": 60, "trials": 200, "rate": 0.3},
    }


def test_spread_tolerances_let_another_machine_pass_and_flag_a_real_regression():
    rules = ClaimsFile.model_validate(SPREAD_RULES)
    old = _spread_metrics()
    k = family_k(300)  # 3.59: the multiple a run of ~300 spread-ruled metrics uses
    # another machine: each mean moves by about a seed's worth, the shared-upstream mean by far more than its
    # own (tiny) spread, a one-seed per-item value by 0.2 (the AMD-vs-Intel cases of issue 32)
    other = _spread_metrics(shared_teacher=(0.265, 0.264, 0.266))
    other["acc"]["a"] = mean_std([0.78, 0.80, 0.79], seeds=[0, 1, 2])
    other["per_item"]["red"] = 0.436
    other["fid"] = {"successes": 52, "trials": 200, "rate": 0.26}
    findings, _ = compare("demo", old, other, rules, k)
    assert not [f for f in findings if f.regressed], [f for f in findings if f.regressed]
    shared = next(f for f in findings if f.metric == "acc.shared.mean")
    assert "pooled sd" in shared.rule  # its own sd (0.001) would have flagged the other machine
    # a real regression: a method that stopped working
    broken = _spread_metrics()
    broken["acc"]["a"] = mean_std([0.55, 0.60, 0.58], seeds=[0, 1, 2])
    broken["fid"] = {"successes": 20, "trials": 200, "rate": 0.10}  # tolerance 3.59 * sqrt(.21 * 2 / 200) = 0.16
    flagged = {f.metric for f in compare("demo", old, broken, rules, k)[0] if f.regressed}
    assert flagged == {"acc.a.mean", "fid.rate"}


def test_spread_tolerance_is_k_standard_errors_of_a_difference_of_means():
    rules = ClaimsFile.model_validate(SPREAD_RULES)
    old = _spread_metrics()
    findings, _ = compare("demo", old, old, rules, 2.0)
    a = next(f for f in findings if f.metric == "acc.a.mean")
    pooled = (sum(s**2 for s in (0.025166, 0.030551, 0.001)) / 3) ** 0.5  # 0.0229 over the rule's three means
    # k * sd * sqrt(2 / n) with sd the larger of its own (0.0252) and the pooled one
    assert f"±{2.0 * max(0.025166, pooled) * (2 / 3) ** 0.5:.3g}" in a.rule and "seeds sd 0.0252" in a.rule
    assert family_k(1) == pytest.approx(1.6449, abs=1e-3) and family_k(300) == pytest.approx(3.588, abs=1e-3)
    no_spread = ClaimsFile.model_validate(
        {**SPREAD_RULES, "regression": [{"metric": "loss", "direction": "lower", "tolerance": "spread"}]}
    )
    with pytest.raises(ValueError, match="none is measured"):
        compare("demo", {"loss": 1.0}, {"loss": 1.1}, no_spread, 3.0)


def test_committed_spread_rules_resolve_on_the_committed_metrics():
    """Every `tolerance: spread` rule finds a spread for every metric it covers (else it raises)."""
    for claims, metrics in _committed_claims_and_metrics():
        findings, _ = compare(claims.paper, metrics, metrics, claims)
        assert not [f.metric for f in findings if f.regressed]
