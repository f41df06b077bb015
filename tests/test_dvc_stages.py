from pathlib import Path

import pytest
from kedro.pipeline import node, pipeline

from revis.dvc_stages import DagError, build_dvc_yaml, project_document, render

REPO = Path(__file__).resolve().parents[1]


def test_committed_dvc_yaml_equals_a_fresh_generation():
    assert (REPO / "dvc.yaml").read_text() == render(project_document(REPO)), "run `kedro dvc-yaml` and commit"


def test_every_stage_runs_one_kind_of_one_pipeline_with_exact_params():
    stages = project_document(REPO)["stages"]
    assert stages["baseline-train"]["cmd"] == "kedro run --env=base --pipelines=baseline --tags=train"
    assert "baseline" in stages["baseline-train"]["params"]
    assert (
        "params" not in stages["baseline-evaluate"]
    )  # evaluate reads no parameter: lr changes do not touch it directly
    assert {"reports/baseline/metrics.json": {"cache": False}} in stages["baseline-evaluate"]["metrics"]
    assert "data/06_models/baseline/models.pt" in stages["baseline-evaluate"]["deps"]
    assert "src/revis/world" not in stages["baseline-train"]["deps"]  # code deps follow imports


def _identity(x):
    return x


def _resolver(persisted):
    return lambda name: (
        {"type": "revis.catalog.JsonDataset", "filepath": f"data/{name}.json"}
        if name in persisted
        else {"type": "kedro.io.MemoryDataset"}
    )


def test_a_node_without_a_stage_kind_is_rejected():
    pipes = {"p": pipeline([node(_identity, "a", "b", name="untagged")])}
    with pytest.raises(DagError, match="untagged"):
        build_dvc_yaml(pipes, _resolver({"a", "b"}), REPO)


def test_an_unpersisted_dataset_crossing_stages_is_rejected():
    pipes = {
        "p": pipeline(
            [
                node(_identity, "a", "b", name="first", tags=["train"]),
                node(_identity, "b", "c", name="second", tags=["evaluate"]),
            ]
        )
    }
    with pytest.raises(DagError, match="'b' crosses"):
        build_dvc_yaml(pipes, _resolver({"a", "c"}), REPO)
    document = build_dvc_yaml(pipes, _resolver({"a", "b", "c"}), REPO)
    assert document["stages"]["p-evaluate"]["deps"][-1] == "data/b.json"
