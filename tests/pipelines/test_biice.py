"""The ``biice`` pipeline on tiny parameters: stage by stage on the shapes world, and on a CIFAR-100 folder."""

import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from revis.config.schema import ParameterError, validate_params
from revis.reporting.claims import ClaimsFile, claim_paths, lookup

REPO = Path(__file__).resolve().parents[2]
PICTURES = ["concept_maps", "contributions", "convergence", "deletion"]


@pytest.fixture(scope="module")
def shapes_run(project_factory, kedro_run):
    root = project_factory("biice")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("REVIS_MLFLOW_DB", str(root.parent / "mlflow.db"))
        patch.chdir(root)
        kedro_run(root, "world", ["ingest"])
        for stage in ("train", "attribute", "evaluate"):  # one stage at a time: what crosses them is persisted
            kedro_run(root, "biice", [stage])
        yield root


def test_stages_persist_and_report_every_measure(shapes_run):
    root = shapes_run
    metrics = json.loads((root / "reports/biice/metrics.json").read_text())
    assert set(metrics["accuracy"]) == {"linear", "biice", "biice_expl"}
    assert set(metrics["localisation"]) == {"biice", "biice_expl", "random"}
    assert set(metrics["localisation"]["biice_expl"]["per_concept"]) == {
        "red",
        "green",
        "blue",
        "circle",
        "square",
        "triangle",
        "stripes",
    }
    assert metrics["contributions"]["biice"]["sum_to_logit_max_abs_error"] < 1e-4
    assert metrics["contributions"]["chance_precision_at_k"] == pytest.approx(2 / 7)
    assert metrics["slot_matching"]["biice_expl"]["hungarian_agrees_with_identity"]["n"] == 1
    assert 0 <= metrics["localisation"]["biice"]["pointing_game"]["mean"] <= 1
    assert "shapes world" in metrics["scale"]
    for picture in PICTURES:
        assert (root / f"reports/biice/plots/{picture}.png").stat().st_size > 5_000
    histories = json.loads((root / "data/06_models/biice/histories.json").read_text())
    assert len(histories["biice_expl/seed0"]["slot_drift"]) == 1 and histories["linear/seed0"]["slot_drift"] == []


def test_every_claim_reads_metrics_the_pipeline_writes(shapes_run):
    metrics = json.loads((shapes_run / "reports/biice/metrics.json").read_text())
    claims = ClaimsFile.model_validate(yaml.safe_load((REPO / "claims/biice.yaml").read_text()))
    for claim in claims.claims:  # tiny runs have every metric the real run has
        for path in claim_paths(claim):
            lookup(metrics, path)


def _write_cifar100(root, n_train=48, n_test=24):
    root.mkdir(parents=True)
    rng = np.random.default_rng(0)
    with open(root / "meta", "wb") as f:
        pickle.dump(
            {
                b"fine_label_names": [f"f{i}".encode() for i in range(6)],
                b"coarse_label_names": [f"c{i}".encode() for i in range(3)],
            },
            f,
        )
    for split, n in (("train", n_train), ("test", n_test)):
        fine = rng.integers(0, 6, n)
        with open(root / split, "wb") as f:
            pickle.dump(
                {
                    b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                    b"fine_labels": fine.tolist(),
                    b"coarse_labels": (fine // 2).tolist(),
                },
                f,
            )


def test_paper_scale_path_on_a_tiny_cifar100_folder(shapes_run, tmp_path, monkeypatch, project_factory, kedro_run):
    """Superclasses as classes, fine classes as image-level concepts: no masks, so no localisation."""
    _write_cifar100(tmp_path / "cifar-100-python")
    root = project_factory(
        "biice-cifar", extra={"biice": {"data": {"dataset": "cifar100", "root": str(tmp_path / "cifar-100-python")}}}
    )
    monkeypatch.setenv("REVIS_MLFLOW_DB", str(shapes_run.parent / "mlflow.db"))  # an existing store: no migrations
    monkeypatch.chdir(root)
    # the pipeline's wiring still reads world.shapes; reuse the tiny world instead of generating it again
    shutil.copytree(shapes_run / "data/01_raw/shapes", root / "data/01_raw/shapes")
    kedro_run(root, "biice")
    metrics = json.loads((root / "reports/biice/metrics.json").read_text())
    assert "localisation" not in metrics and metrics["scale"].startswith("cifar100")
    assert metrics["contributions"]["chance_precision_at_k"] == pytest.approx(2 / 6)  # two fine classes per superclass
    assert metrics["contributions"]["biice_expl"]["sum_to_logit_max_abs_error"] < 1e-4
    assert (root / "reports/biice/plots/concept_maps.png").is_file()


def test_real_datasets_need_a_folder():
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["biice"]["data"]["dataset"] = "cub"
    params["biice"]["train"]["backbone"]["name"] = "convnet"
    message = str(pytest.raises(ParameterError, validate_params, params).value)
    assert "'biice.data'" in message and "needs 'root'" in message and "'biice.train.backbone'" in message
