"""The merlin pipeline: schema errors, stage tags, in-memory wiring (fast) and a KedroSession run (integration)."""

import copy
import json
from pathlib import Path

import pytest
import yaml

from revis.config.schema import ParameterError, validate_params
from revis.dvc_stages import STAGE_KINDS
from revis.reporting.claims import ClaimsFile, claim_paths, lookup

REPO = Path(__file__).resolve().parents[2]


def committed_params() -> dict:
    return yaml.safe_load((REPO / "params.yaml").read_text())


@pytest.mark.parametrize(
    ("path", "value", "named"),
    [
        (("merlin", "evaluate", "noise"), [0.2], "'merlin.evaluate'"),
        (("merlin", "evaluate", "questioners"), ["llm"], "'merlin.evaluate'"),
        (("merlin", "features", "pooling"), "max", "'merlin.features.pooling'"),
        (("merlin", "evaluate", "alpha"), 1.5, "'merlin.evaluate.alpha'"),
    ],
)
def test_bad_values_are_named(path, value, named):
    params = committed_params()
    node = params
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises(ParameterError) as info:
        validate_params(params)
    assert named in str(info.value)


def test_stages_and_their_parameters():
    from revis.pipelines.merlin import create_pipeline

    stages: dict[str, set[str]] = {}
    for node in create_pipeline().nodes:
        kinds = [t for t in node.tags if t in STAGE_KINDS]
        assert len(kinds) == 1, node.name
        stages.setdefault(kinds[0], set()).update(i for i in node.inputs if i.startswith("params:"))
    assert stages == {"features": {"params:merlin.features"}, "evaluate": {"params:merlin.evaluate"}}


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
    metrics = out["merlin.metrics"]
    assert set(metrics["rounds"]) == {
        "rule_answer_noise0",
        "rule_answer_noise20",
        "rule_history_noise0",
        "rule_history_noise20",
        "entropy_answer_noise0",
        "entropy_answer_noise20",
        "entropy_history_noise0",
        "entropy_history_noise20",
        "control_rule_answer",
    }
    assert metrics["rounds"]["rule_answer_noise0"]["round2"]["r1"]["n"] == 2
    # every arm starts from the same round-0 ranks (same queries and gallery)
    r0 = {json.dumps(v["round0"]["mnr"]["values"]) for v in metrics["rounds"].values()}
    assert len(r0) == 1
    assert out["merlin.runs"]["example"]["turns"]
    claims = ClaimsFile.model_validate(yaml.safe_load((REPO / "claims/merlin.yaml").read_text()))
    tiny_claims = copy.deepcopy(metrics)
    for claim in claims.claims:
        for path in claim_paths(claim):
            lookup(tiny_claims, path)


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
