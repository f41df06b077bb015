import json
import subprocess

import pytest
import yaml
from conftest import REPO, git

from revis.pipelines.scoreboard.pipeline import claimed_pipelines
from revis.reporting.claims import ClaimsFile, evaluate_holds_if
from revis.reporting.regression import check, compare, main
from revis.reporting.scoreboard import scoreboard_markdown
from revis.reporting.summary import flat_numbers, mean_std

CLAIMS = {
    "paper": "demo",
    "title": "Demo paper",
    "claims": [
        {
            "id": "a",
            "claim": "ours beats random",
            "published": "48.9 vs 46.2",
            "ours": "ours.mean",
            "holds_if": "ours.mean > random.mean",
        },
        {"id": "b", "claim": "beats chance", "ours": "ours.mean", "holds_if": "ours.mean >= 0.9"},
        {"id": "c", "claim": "missing metric", "ours": "nothing.here", "holds_if": "nothing.here > 1"},
    ],
    "regression": [
        {"metric": "*.mean", "direction": "higher", "tolerance": 0.02},
        {"metric": "loss", "direction": "lower", "tolerance": 0.1},
        {"metric": "*.std", "direction": "ignore"},
    ],
}
METRICS = {"ours": mean_std([0.8, 0.9]), "random": mean_std([0.5, 0.6]), "scale": "tiny", "loss": 1.0}


def test_holds_if_reads_paths_and_numbers():
    assert evaluate_holds_if("ours.mean > random.mean", METRICS).holds is True
    assert evaluate_holds_if("ours.mean >= 0.9", METRICS).holds is False
    assert evaluate_holds_if("x.y < 2", METRICS).holds is None
    with pytest.raises(ValueError):
        evaluate_holds_if("ours.mean ~ 1", METRICS)


def test_scoreboard_shows_published_ours_scale_and_verdict():
    board = scoreboard_markdown({"demo": (CLAIMS, METRICS)})
    assert "Scale: tiny" in board and "48.9 vs 46.2" in board and "0.85 ± 0.05 (n=2)" in board
    rows = [line for line in board.splitlines() if line.startswith("| ") and "claim |" not in line]
    assert [row.rsplit("|", 2)[-2].strip() for row in rows] == ["yes", "**no**", "n/a"]
    assert "1 hold, 1 do not hold, 1 not evaluated" in board


def test_compare_flags_regressions_by_direction_and_tolerance():
    rules = ClaimsFile.model_validate(CLAIMS)
    new = {"ours": mean_std([0.7, 0.8]), "random": mean_std([0.55, 0.6]), "loss": 1.05, "extra": 3}
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
