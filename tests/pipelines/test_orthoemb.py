"""The orthoemb pipeline: nodes wired in memory on a tiny t2i model (fast), parameters, one KedroSession run."""

import json

import pytest
import yaml
from memory_run import REPO, merged, run_nodes  # tests/pipelines/memory_run.py

from revis.config.schema import ParameterError, validate_params
from revis.dvc_stages import STAGE_KINDS

ARMS = {"text", "visual", "full", "mean", "swap", "both"}


@pytest.fixture(scope="module")
def tiny_t2i(tiny_params):
    """A tiny caption world, judge and (two-step) t2i model, through the t2i pipeline's own nodes."""
    keep = ("t2i.judge", "t2i.model")
    out = run_nodes("t2i", {"t2i": merged(tiny_params, "t2i")}, keep=keep, tags=("ingest", "train"))
    return {k: out[k] for k in keep}


def test_orthoemb_nodes_run_in_memory(tiny_t2i, tiny_params):
    out = run_nodes(
        "orthoemb", {"orthoemb": merged(tiny_params, "orthoemb")}, inputs=tiny_t2i, keep=("orthoemb.encoders",)
    )
    metrics = out["orthoemb.metrics"]
    assert set(metrics["arms"]) == ARMS
    for arm in ARMS:
        assert metrics["arms"][arm]["leakage"]["seeds"] == [0, 1]
        assert metrics["pooled"][arm]["identity"]["trials"] == 2 * 4
        assert metrics["pooled"][arm]["fidelity"]["trials"] == 2 * 2  # every other case has a second object
    assert metrics["orthogonality"]["full"] < 1e-4 < metrics["orthogonality"]["visual"]
    assert metrics["references"]["leakage"]["trials"] == 8
    assert set(out["orthoemb.encoders"]["seeds"]) == {"0", "1"}
    # every fix's pixel change from the no-fix arm, per seed (the gates that make non-inferiority falsifiable)
    change = metrics["change_from_visual"]
    assert set(change) == ARMS - {"text", "visual"}
    assert all(change[arm]["seeds"] == [0, 1] and min(change[arm]["values"]) >= 0 for arm in change)
    assert max(change["full"]["values"]) > 0  # the projection moves a random-weight model's images


def test_every_node_has_one_stage_kind_and_train_reads_only_its_params():
    from revis.pipelines.orthoemb import create_pipeline

    stages: dict[str, set] = {}
    for node in create_pipeline().nodes:
        kinds = [t for t in node.tags if t in STAGE_KINDS]
        assert len(kinds) == 1, node.name
        stages.setdefault(kinds[0], set()).update(i for i in node.inputs if i.startswith("params:"))
    assert set(stages) == {"train", "evaluate"}
    assert stages["train"] == {"params:orthoemb.train", "params:orthoemb.runtime"}
    assert "params:orthoemb.fixes" in stages["evaluate"]


@pytest.mark.parametrize(
    ("path", "value", "named"),
    [
        (("train", "seeds"), [1, 1], "'orthoemb.train'"),
        (("fixes", "basis_tokens"), "everything", "'orthoemb.fixes.basis_tokens'"),
        (("fixes", "swap_end_step"), 1, "'orthoemb.fixes'"),
        (("evaluate", "arms"), ["text", "full"], "'orthoemb.evaluate'"),
    ],
)
def test_bad_values_are_named(path, value, named):
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    node = params["orthoemb"]
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises(ParameterError) as info:
        validate_params(params)
    assert named in str(info.value)


@pytest.mark.integration
def test_orthoemb_runs_through_kedro_session(project_factory, kedro_run):
    root = project_factory("orthoemb")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("REVIS_MLFLOW_DB", str(root.parent / "mlflow.db"))
        patch.chdir(root)
        kedro_run(root, "t2i", ["ingest", "train"])
        for kind in ("train", "evaluate"):
            kedro_run(root, "orthoemb", [kind])
    assert (root / "data/06_models/orthoemb/subject_encoders.pt").is_file()
    metrics = json.loads((root / "reports/orthoemb/metrics.json").read_text())
    assert set(metrics["arms"]) == ARMS
    for picture in ("samples", "tradeoff", "attention", "training_loss"):
        assert (root / f"reports/orthoemb/plots/{picture}.png").stat().st_size > 5_000
