"""The t2i pipeline: nodes wired in memory on tiny sizes (fast), one KedroSession run."""

import json
import re

import pytest
from memory_run import merged, run_nodes  # tests/pipelines/memory_run.py

from revis.reporting.results import to_json
from revis.reporting.summary import flat_numbers


def test_t2i_nodes_run_in_memory(tiny_params):
    out = run_nodes("t2i", {"t2i": merged(tiny_params, "t2i")}, keep=("t2i.captions", "t2i.judge", "t2i.replicates"))
    metrics = to_json(out["t2i.metrics"])
    assert all(re.fullmatch(r"[\w\-. :/]+", key) for key in flat_numbers(metrics))  # MLflow metric names
    assert metrics["training"]["final_loss"] > 0 and "2 training seeds" in metrics["scale"]
    for aspect in ("objects", "colours", "count"):
        for source in ("model", "shuffled_captions", "real_images"):
            counts = metrics["fidelity"][aspect][source]
            assert 0 <= counts["successes"] <= counts["trials"] and counts["trials"] > 0
    assert metrics["training"]["steps"] == 2
    # the gates' per-seed fidelity: t2i.model (seed 0) and the replicate (seed 1), each against shuffled captions
    for aspect, per_seed in metrics["fidelity_per_seed"].items():
        assert per_seed["p_above_shuffled"]["seeds"] == [0, 1], aspect
        assert all(0 < p <= 1 for p in per_seed["p_above_shuffled"]["values"])
        excess = [m - b for m, b in zip(per_seed["model"]["values"], per_seed["shuffled_captions"]["values"])]
        assert per_seed["excess"]["values"] == pytest.approx(excess)
        assert per_seed["model"]["values"][0] == pytest.approx(metrics["fidelity"][aspect]["model"]["rate"])
    assert metrics["judge"]["clean"]["n_images"] == 16
    assert len(out["t2i.judge_history"]["segmenter"]) == 1
    assert out["t2i.captions"]["train"].images.shape[1:] == (8, 8, 3)
    assert set(out["t2i.judge"]) >= {"state_dict", "labels", "min_area"}
    # whole-chain seeds: one more model per replicate seed, carrying its training seed
    assert {k: m.config.seed for k, m in out["t2i.replicates"].items()} == {"1": 1}
    assert len(out["t2i.replicate_history"]["1"]["loss"]) == 2
    # the learning curve of the gate fidelities: a checkpoint every step and the end, probe captions only
    curve = out["t2i.curve_fidelity"]
    assert [row["step"] for row in curve] == [1, 2]
    assert all(0 <= row[c] <= 1 for row in curve for c in ("positions", "shapes_shuffled", "count"))
    # the judge's reject option on re-denoised real scenes: precision with and without it
    redenoised = metrics["judge"]["redenoised"]
    assert redenoised["n_images"] == 4 and redenoised["threshold"] == 0.5 and redenoised["strength"] == 0.5
    assert 0 <= redenoised["precision_without_reject"] <= 1 and 0 <= redenoised["rejected_share"] <= 1


@pytest.mark.integration
def test_t2i_runs_through_kedro_session(project_factory, kedro_run):
    root = project_factory("t2i")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("REVIS_MLFLOW_DB", str(root.parent / "mlflow.db"))
        patch.chdir(root)
        for kind in ("ingest", "train", "evaluate"):
            kedro_run(root, "t2i", [kind])
    assert (root / "data/01_raw/captions/train-000000.tar").is_file()
    assert (root / "data/06_models/t2i/model/model_index.json").is_file()
    assert (root / "data/06_models/t2i/model/unet/diffusion_pytorch_model.safetensors").is_file()
    assert (root / "data/06_models/t2i/replicates/1/model_index.json").is_file()  # whole-chain seed 1
    metrics = json.loads((root / "reports/t2i/metrics.json").read_text())
    assert metrics["fidelity"]["objects"]["model"]["trials"] > 0
    for picture in ("world_samples", "samples", "training_loss"):
        assert (root / f"reports/t2i/plots/{picture}.png").stat().st_size > 5_000
