"""The orthoemb pipeline: nodes wired in memory on a tiny t2i model (fast), one KedroSession run."""

import json

import pytest
from memory_run import merged, run_nodes  # tests/pipelines/memory_run.py

from revis.reporting.results import to_json

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
    metrics = to_json(out["orthoemb.metrics"])
    assert set(metrics["arms"]) == ARMS
    for arm in ARMS:
        rates = metrics["arms"][arm]
        assert all(0 <= v <= 1 for m in ("identity", "leakage", "compliance") for v in rates[m]["values"])
        tradeoff = [i - v for i, v in zip(rates["identity"]["values"], rates["leakage"]["values"])]
        assert rates["tradeoff"]["values"] == pytest.approx(tradeoff)
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
