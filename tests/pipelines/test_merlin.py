"""The merlin pipeline: in-memory wiring (fast) and a KedroSession run (integration)."""

import json
from pathlib import Path

import pytest
import yaml

from revis.reporting.claims import ClaimsFile, claim_paths, lookup
from revis.reporting.results import to_json

REPO = Path(__file__).resolve().parents[2]


def committed_params() -> dict:
    return yaml.safe_load((REPO / "params.yaml").read_text())


def _merge(base: dict, override: dict) -> dict:
    out = dict(base)
    for key, value in override.items():
        out[key] = _merge(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict) else value
    return out


@pytest.fixture(scope="module")
def tiny(tiny_text_model):
    params = committed_params()
    for name in ("videos", "vl", "merlin"):
        params = _merge(params, yaml.safe_load((REPO / f"tests/tiny/{name}.yaml").read_text()))
    params["vl"]["encoder"]["text_path"] = str(tiny_text_model)
    return params


def test_pipeline_wires_in_memory(run_in_memory, tiny, monkeypatch):
    from kedro.io import MemoryDataset

    monkeypatch.setattr(MemoryDataset, "_release", lambda self: None)
    world = run_in_memory("videos", {}, {"videos": tiny["videos"]}, tags=None)["videos.qvhighlights"]
    vl = run_in_memory("vl", {"videos.qvhighlights": world}, {"vl": tiny["vl"]}, tags=["train"])
    out = run_in_memory(
        "merlin", {"videos.qvhighlights": world, "vl.encoders": vl["vl.encoders"]}, {"merlin": tiny["merlin"]}
    )
    metrics = to_json(out["merlin.metrics"])
    arms = [f"{q}_{c}_noise{n}" for q in ("rule", "entropy") for c in ("answer", "history") for n in (0, 20)]
    assert list(metrics["rounds"]) == [*arms, "learned_answer_noise0", "learned_history_noise0", "control_rule_answer"]
    assert metrics["main"] == arms[0]
    for per_round in metrics["rounds"].values():  # two seeds, rounds 0..2, recalls in percent that grow with k
        assert list(per_round) == ["round0", "round1", "round2"]
        for summary in per_round.values():
            assert summary["r1"]["n"] == 2 and summary["r1"]["seeds"] == [0, 1]
            assert 0 <= summary["r1"]["mean"] <= summary["r5"]["mean"] <= summary["r10"]["mean"] <= 100
            assert (
                1 <= summary["mdr"]["mean"] <= metrics["gallery"] and 1 <= summary["mnr"]["mean"] <= metrics["gallery"]
            )
    # every arm starts from the same round-0 ranks (same queries and gallery)
    r0 = {json.dumps(v["round0"]["mnr"]["values"]) for v in metrics["rounds"].values()}
    assert len(r0) == 1
    for name, gain in metrics["gain"].items():  # the gain is the last round minus round 0, per seed
        first, last = (
            metrics["rounds"][name]["round0"]["r1"]["values"],
            metrics["rounds"][name]["round2"]["r1"]["values"],
        )
        assert gain["r1"]["values"] == pytest.approx([b - a for a, b in zip(first, last)])
    assert metrics["chance"]["r1"] == pytest.approx(100 / metrics["gallery"])
    assert metrics["queries"] == 6 and all(0 <= q["mean"] <= 2 for q in metrics["questions_per_query"].values())
    runs = to_json(out["merlin.runs"])
    assert runs["example"]["turns"] and runs["conditions"][0]["name"] == arms[0]
    assert all(len(r) == 3 and len(r[0]) == 6 for by_seed in runs["ranks"].values() for r in by_seed.values())
    claims = ClaimsFile.model_validate(yaml.safe_load((REPO / "claims/merlin.yaml").read_text()))
    for claim in claims.claims:
        for path in claim_paths(claim):
            lookup(metrics, path)


@pytest.mark.integration
def test_kedro_session_run(project_factory, kedro_run, tiny_text_model):
    root = project_factory("merlin", extra={"vl": {"encoder": {"text_path": str(tiny_text_model)}}})
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("REVIS_MLFLOW_DB", str(root.parent / "mlflow.db"))
        patch.chdir(root)
        for pipeline, tags in (("videos", None), ("vl", ["train"]), ("merlin", ["features"]), ("merlin", ["evaluate"])):
            kedro_run(root, pipeline, tags)
    metrics = json.loads((root / "reports/merlin/metrics.json").read_text())
    assert "scale" in metrics and metrics["gallery"] > 0
    for picture in ("recall", "example"):
        assert (root / f"reports/merlin/plots/{picture}.png").stat().st_size > 5_000
    assert (root / "data/04_feature/merlin/features.pt").is_file()
