"""What the MLflow UI is given: curve names, the headline of an evaluate run, the runs-table preset, the links."""

from __future__ import annotations

import asyncio
import csv
import io
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from revis import curves
from revis.reporting.summary import mean_std
from revis.tracking.run_metrics import referenced_paths, run_metrics
from revis.tracking.ui import MARKER, PRESETS, PresetUI, inject, preset_script

REPO = Path(__file__).resolve().parents[2]


# -- curves ----------------------------------------------------------------------------------------
def test_a_curve_is_named_by_paper_arm_seed_and_quantity():
    key = curves.curve_key("teacher_student_1", 2)
    assert key == "teacher_student_1/seed2"
    assert curves.curve_name("lada", key, "loss") == "lada/teacher_student_1/seed2/loss"
    assert curves.parse_curve_name("lada/teacher_student_1/seed2/loss") == ("lada", "teacher_student_1", "2", "loss")
    assert curves.parse_curve_name("t2i/t2i/seed-/loss") == ("t2i", "t2i", None, "loss")
    assert curves.curve_key("digits/10pct 1", None) == "digits_10pct_1/seed-"  # what MLflow would refuse is replaced
    for wrong in ("t2i.loss", "t2i.seed1.loss", "orthoemb.s0.loss", "vl/seed0/loss", "a/b/0/loss"):
        with pytest.raises(ValueError):
            curves.parse_curve_name(wrong)


def test_log_curve_hands_the_sink_names_the_hook_completes_and_refuses_other_names():
    got: list[tuple[dict[str, float], int]] = []
    previous = curves.set_sink(lambda values, step: got.append((values, step)))
    try:
        curves.log_curve({"loss": 0.5, "accuracy": float("nan")}, 3, curves.curve_key("digits", 0))
        curves.log_history({"loss": [3.0, 2.0], "lr": 0.1, "accuracy": [0.1, 0.2, 0.3]}, "shapes/seed1", first_step=1)
        with pytest.raises(ValueError):
            curves.log_curve({"loss": 1.0}, 0, "digits.seed0")  # the old dotted names
        with pytest.raises(ValueError):
            curves.log_curve({"a/b": 1.0}, 0, "digits/seed0")
    finally:
        curves.set_sink(previous)
    assert got[0] == ({"digits/seed0/loss": 0.5}, 3)  # non-finite points are dropped
    assert got[1:] == [
        ({"shapes/seed1/loss": 3.0, "shapes/seed1/accuracy": 0.1}, 1),
        ({"shapes/seed1/loss": 2.0, "shapes/seed1/accuracy": 0.2}, 2),
        ({"shapes/seed1/accuracy": 0.3}, 3),
    ]
    for values, _ in got:
        for name in values:
            assert curves.parse_curve_name(f"baseline/{name}")[0] == "baseline"


def test_no_training_loop_logs_a_name_outside_the_scheme():
    """Every log_curve call passes its curve key (the third argument): no dotted names built by hand."""
    calls = [
        (path, line.strip())
        for path in (REPO / "src/revis").rglob("*.py")
        if path.name != "curves.py"
        for line in path.read_text().splitlines()
        if "log_curve(" in line and "import" not in line and "def " not in line
    ]
    assert len(calls) >= 15
    for path, line in calls:
        assert 'f"{curve}.' not in line and ".seed{" not in line, f"{path}: {line}"


# -- the headline of an evaluate run ---------------------------------------------------------------
@pytest.fixture
def paper(tmp_path: Path) -> tuple[dict[str, Any], Path]:
    metrics = {
        "acc": {"ours": mean_std([0.8, 0.9, 0.85], [0, 1, 2]), "random": mean_std([0.5, 0.6, 0.5], [0, 1, 2])},
        "detail": {f"layer{i}": mean_std([i, i + 1.0], [0, 1]) for i in range(50)},
        "scale": "tiny",
    }
    claims = tmp_path / "demo.yaml"
    claims.write_text(
        "paper: demo\ntitle: A Demo Paper (ICCV 2031)\nclaims:\n"
        "- id: beats_random\n  kind: paper\n  claim: ours beats random\n"
        "  compare: {metric: acc.ours, baseline: acc.random, test: paired_t}\n"
        "- id: detail_ok\n  kind: sanity\n  claim: a property\n  check: detail.layer1.mean >= 1\n"
    )
    return metrics, claims


def test_an_evaluate_run_shows_the_headline_and_the_compared_summaries_not_every_number(paper):
    metrics, claims = paper
    shown = run_metrics(metrics, claims)
    names = list(shown.metrics)
    assert names[0] == "headline/beats_random" and shown.metrics[names[0]] == pytest.approx(0.85 - 0.5333333)
    assert names[1] == "verdicts/holds"
    assert {"acc.ours.mean", "acc.random.mean", "detail.layer1.mean"} <= set(names)
    assert "detail.layer7.mean" not in names and not any(n.endswith(".n") for n in names)  # the rest: artifacts
    assert len(names) < 15
    assert shown.description is not None
    assert shown.description.startswith("**A Demo Paper (ICCV 2031)**")
    assert "| beats_random | holds | 0.3167 | ours beats random |" in shown.description
    assert shown.description.index("beats_random") < shown.description.index("| detail_ok | holds (sanity) |")
    rows = list(csv.DictReader(io.StringIO(shown.table)))
    assert len(rows) == 52  # 2 compared summaries + 50 detail summaries; strings are not numbers
    ours = next(r for r in rows if r["metric"] == "acc.ours")
    assert [float(ours[f"seed{s}"]) for s in range(3)] == [0.8, 0.9, 0.85]  # per seed, browsable


def test_a_metrics_file_without_claims_is_logged_whole(paper):
    metrics, _ = paper
    shown = run_metrics(metrics, None)
    assert "detail.layer7.mean" in shown.metrics and shown.description is None


def test_referenced_paths_skip_other_papers_gates():
    raw = {
        "gates": [{"compare": {"metric": "gate.ap50", "baseline": 0.3}}],
        "claims": [{"compare": {"metric": "a.b", "baseline": "c.d"}, "ours": "e.f", "gates": ["t2i:x"]}],
    }
    assert referenced_paths(raw) == ["gate.ap50", "a.b", "c.d", "e.f"]


def test_every_claims_title_becomes_its_experiments_description():
    from revis.tracking.hook import experiment_description

    for path in sorted((REPO / "claims").glob("*.yaml")):
        described = experiment_description(path.stem, REPO)
        title = yaml.safe_load(path.read_text())["title"]
        assert described.startswith(title) and "**" not in described.split("\n")[0], path.name
    assert "SCOREBOARD" in experiment_description("scoreboard", REPO)


# -- the runs-table preset -------------------------------------------------------------------------
def test_the_preset_goes_first_in_the_head_once():
    html = b"<!doctype html><html><head><meta charset=utf-8><script src=main.js></script></head></html>"
    script = preset_script()
    once = inject(html, script)
    assert once.index(MARKER.encode()) < once.index(b"main.js")  # before the UI's bundle reads localStorage
    assert inject(once, script) == once
    assert '"mlflow.workflowType_v1":"machine_learning"' in script and "getItem(k)===null" in script
    assert PRESETS["mlflow.assistant.panelOpen_v1"] is False


def _asgi(app, path: str, method: str = "GET") -> tuple[dict[str, Any], bytes]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": method, "path": path, "headers": [(b"accept-encoding", b"gzip")]}
    asyncio.run(app(scope, receive, send))
    start = sent[0]
    return start, b"".join(m.get("body", b"") for m in sent[1:])


def test_the_app_rewrites_only_the_page_that_boots_the_ui():
    requests: list[dict[str, Any]] = []

    async def mlflow_like(scope, receive, send):
        requests.append(scope)
        html = scope["path"] == "/"
        body = b"<html><head></head><body>ui</body></html>" if html else b'{"ok": true}'
        kind = b"text/html; charset=utf-8" if html else b"application/json"
        headers = [(b"content-type", kind), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body[:10], "more_body": True})
        await send({"type": "http.response.body", "body": body[10:]})

    app = PresetUI(mlflow_like, preset_script())
    start, body = _asgi(app, "/")
    assert MARKER.encode() in body and body.endswith(b"<body>ui</body></html>")
    assert dict(start["headers"])[b"content-length"] == str(len(body)).encode()
    assert (b"accept-encoding", b"gzip") not in requests[-1]["headers"]  # an uncompressed page to rewrite
    _, api = _asgi(app, "/ajax-api/2.0/mlflow/experiments/search")
    assert api == b'{"ok": true}'


def test_the_app_is_mlflows_app_entry_point_revis():
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["entry-points"]["mlflow.app"]
    assert declared == {"revis": "revis.tracking.ui:app"}
    from mlflow.server import _is_factory

    assert not _is_factory(declared["revis"])  # an ASGI object: uvicorn serves it as it is


def test_make_ui_prints_the_manual_step(tmp_path, capsys):
    from revis.tracking.links import MANUAL_STEP, main

    main(["--url", "http://127.0.0.1:5999", "--tracking-uri", f"sqlite:///{tmp_path / 'none.db'}"])
    printed = capsys.readouterr().out
    assert "workflowType=machine_learning" in printed and MANUAL_STEP in printed
    assert '"Model training"' in MANUAL_STEP
