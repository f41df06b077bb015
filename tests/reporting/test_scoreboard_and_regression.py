import json
import subprocess
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from revis.pipelines.scoreboard.pipeline import claimed_pipelines
from revis.reporting.claims import ClaimsFile, evaluate_check, evaluate_claim, lookup
from revis.reporting.regression import check, compare, main
from revis.reporting.scoreboard import scoreboard_markdown
from revis.reporting.summary import flat_numbers, mean_std

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
    with pytest.raises(ValidationError, match="duplicate claim ids"):
        ClaimsFile.model_validate({**CLAIMS, "claims": [CLAIMS["claims"][0], CLAIMS["claims"][0]]})
    with pytest.raises(ValidationError, match="two measured quantities"):
        ClaimsFile.model_validate(
            {
                **CLAIMS,
                "claims": [{**CLAIMS["claims"][0], "compare": {"metric": "a", "baseline": 1, "test": "paired_t"}}],
            }
        )


def test_scoreboard_shows_effect_interval_test_and_three_verdicts():
    board = scoreboard_markdown({"demo": (CLAIMS, METRICS)})
    assert "Scale: tiny" in board and "48.9 vs 46.2" in board and "0.85 ± 0.05 (n=3)" in board
    rows = [line for line in board.splitlines() if line.startswith("| ours beats") or line.startswith("| beats")]
    assert "paired t (3)" in rows[0] and "+0.317 [" in rows[0] and rows[0].endswith("| holds |")
    verdicts = [evaluate_claim(c, METRICS).verdict for c in ClaimsFile.model_validate(CLAIMS).claims]
    assert verdicts == ["holds", "inconclusive", "does not hold", "not evaluated", "holds"]
    # the headline counts paper claims only; the sanity check is listed apart
    assert "Paper claims: 1 hold, 1 do not hold, 1 inconclusive, 1 not evaluated" in board
    assert "Sanity checks (not counted): 1 pass" in board
    assert "| demo | 1 | 1 | 1 | 1 |" in board


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
