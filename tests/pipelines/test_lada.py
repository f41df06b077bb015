"""The lada pipeline: schema, stage shape, claims, the in-memory wiring, and one KedroSession run."""

import json
import typing
from pathlib import Path

import mlflow
import pytest
import yaml

from revis.config.overlay import merge
from revis.config.schema import validate_params
from revis.dvc_stages import STAGE_KINDS
from revis.pipelines.lada import create_pipeline
from revis.pipelines.lada.nodes_ingest import make_control, make_world
from revis.pipelines.lada.params import ArmName, WorldParams
from revis.reporting.claims import ClaimsFile, claim_paths, lookup
from revis.reporting.results import to_json
from revis.world.smoke import read_smoke_world, write_smoke_world

REPO = Path(__file__).resolve().parents[2]


def committed_params() -> dict:
    return yaml.safe_load((REPO / "params.yaml").read_text())


def test_arm_names_of_the_schema_are_the_library_registry():
    from revis.detection.ssda import arm_registry

    assert set(typing.get_args(ArmName)) == set(arm_registry())


def test_pretrainings_of_the_schema_are_the_library_ones_and_per_seed_is_validated():
    from pydantic import ValidationError

    from revis.detection.ssda import PRETRAININGS
    from revis.pipelines.lada.params import PretrainingName, ScheduleParams

    assert typing.get_args(PretrainingName) == PRETRAININGS
    schedule = committed_params()["lada"]["train"]["schedule"]
    assert ScheduleParams.model_validate(schedule).pretrain_per_seed == ["main_merged"]  # the default DAG
    for ok in (True, False, [], ["main_merged", "control_merged"]):
        assert ScheduleParams.model_validate({**schedule, "pretrain_per_seed": ok}).pretrain_per_seed == ok
    for bad in (["main_merge"], ["main_merged", "main_merged"], "main_merged"):
        with pytest.raises(ValidationError):
            ScheduleParams.model_validate({**schedule, "pretrain_per_seed": bad})


def test_stages_read_their_own_parameters():
    stages: dict[str, set[str]] = {}
    for node in create_pipeline().nodes:
        kind = next(t for t in node.tags if t in STAGE_KINDS)
        stages.setdefault(kind, set()).update(i for i in node.inputs if i.startswith("params:"))
    assert stages["ingest"] == {"params:lada.world"}  # a training parameter never regenerates the world
    assert stages["train"] == {"params:lada.data", "params:lada.train", "params:lada.seeds", "params:lada.compute"}
    assert "params:lada.train" not in stages["evaluate"]  # re-scoring never retrains


def test_paper_scale_overlay_points_at_the_real_release():
    overlay = yaml.safe_load((REPO / "paper_scale" / "lada.yaml").read_text())
    validated = validate_params(merge(committed_params(), overlay))["lada"]
    assert validated.data.release_labels and validated.data.release_images and validated.data.release_unlabeled
    assert "teacher_student_05" in validated.train.arms and validated.compute.device == "auto"
    assert validated.compute.workers == 1 and validated.seeds == [0, 1, 2]


def test_claims_are_well_formed_and_name_the_published_numbers():
    claims, gate_paths = load_claims(REPO / "claims" / "lada.yaml")
    assert any("3.8" in str(c.published) for c in claims.claims)
    assert {"paper", "sanity"} <= {c.kind for c in claims.claims} <= {"paper", "extension", "sanity"}
    assert {"gate.source_ap50", "gate.pseudo_recall"} <= set(gate_paths)


def lada_params(tiny_params) -> dict:
    return {"lada": merge(committed_params()["lada"], tiny_params["lada"])}


@pytest.fixture(scope="module")
def tiny_worlds(tmp_path_factory, tiny_params):
    world = WorldParams.model_validate(lada_params(tiny_params)["lada"]["world"])
    root = tmp_path_factory.mktemp("lada")
    write_smoke_world(root / "world", make_world(world))
    write_smoke_world(root / "control", make_control(world))
    return read_smoke_world(root / "world"), read_smoke_world(root / "control")


def test_the_world_files_read_back_as_written(tiny_worlds):
    from revis.detection.ssda_metrics import OverrunBounds, label_statistics
    from revis.pipelines.lada.params import DataParams

    world, control = tiny_worlds
    data = DataParams()
    stats = label_statistics(world, control, None, OverrunBounds(data.max_overrun, data.max_overrun_fraction))
    truth = world.truth()
    assert stats["world"]["source"]["box_count_ratio"] == stats["truth"]["source"]["box_count_ratio"]
    assert stats["clipped_merged_boxes"] == stats["truth_overrunning_merged_boxes"]
    assert stats["negative_images_read"] == stats["truth_negative_images"] > 0
    assert stats["world"]["source"]["merged"]["images"] == truth["images"]["source"]
    names = sorted(p.name for p in world.labels.iterdir())
    assert "hpwren_source.json" in names and "target_label_1.0%_original.json" in names
    first = json.loads((world.labels / "hpwren_source.json").read_text())["images"][0]["file_name"]
    assert first.startswith("/home/") and "HPWREN-FIgLib-Data/" in first  # another machine's absolute path


def test_in_memory_wiring_trains_every_arm_and_scores_it(run_in_memory, tiny_params, tiny_worlds):
    world, control = tiny_worlds
    params = lada_params(tiny_params)
    inputs = {"lada.world": world, "lada.control": control}
    trained = run_in_memory("lada", inputs=inputs, params=params, tags=["train"])
    out = {**trained, **run_in_memory("lada", inputs={**inputs, **trained}, params=params, tags=["evaluate"])}
    metrics = to_json(out["lada.metrics"])
    arms = params["lada"]["train"]["arms"]
    assert set(metrics["ap50"]) == set(arms) and all(0 <= metrics["ap50"][a]["mean"] <= 1 for a in arms)
    assert all(metrics["ap50"][a]["n"] == len(params["lada"]["seeds"]) for a in arms)
    assert all(metrics["ap50_95"][a]["mean"] <= metrics["ap50"][a]["mean"] for a in arms)  # AP50:95 <= AP50
    gain = metrics["gain_ap50"]["adaptation_1"]
    expected = metrics["ap50"]["teacher_student_1"]["mean"] - metrics["ap50"]["source_only"]["mean"]
    assert gain["mean"] == pytest.approx(expected)  # one seed: the paired gain is the difference of the arms
    assert metrics["schedule"]["steps_min"] == metrics["schedule"]["steps_max"] == 3  # 1 pretraining + 2 adaptation
    assert {"adaptation_1", "unlabeled_1", "coordconv_1", "merged_over_fragment_1"} <= set(metrics["gain_ap50"])
    assert "teacher_student_1" in metrics["ap50_fragment_test"]
    runs = out["lada.runs"]["runs"]
    assert {r["arm"] for r in runs} == set(arms) and all(r["steps"] == 3 for r in runs)
    assert {m["key"] for m in out["lada.runs"]["pretrained"]} == {
        "main/source/merged/pretrain-seed0",
        "main/source/fragment/pretrain-seed0",
        "control/source/merged/pretrain-seed0",
    }
    for picture in ("plot_world_samples", "plot_predictions", "plot_pseudo_labels", "plot_ap_per_arm"):
        assert out[f"lada.{picture}"].axes
    claims, gate_paths = load_claims(REPO / "claims" / "lada.yaml")
    full_arms = set(committed_params()["lada"]["train"]["arms"])
    for gate in ("source_ap50", "pseudo_recall"):  # per seed, as the every_seed gates need
        assert len(metrics["gate"][gate]["values"]) >= 1 and 0 <= min(metrics["gate"][gate]["values"]) <= 1
    assert set(metrics["ap50_test_heldout"]) == set(arms)  # the held-out cameras: second reading
    for paths in [claim_paths(claim) for claim in claims.claims] + [gate_paths]:
        for path in paths:
            parts = path.split(".")
            if parts[0] in ("ap50", "ap50_95") and parts[1] not in arms:
                assert parts[1] in full_arms, path  # tiny runs fewer arms; the default runs this one
                continue
            if parts[0] == "gain_ap50" and parts[1] not in metrics["gain_ap50"]:
                continue
            if parts[:2] == ["labels", "release"]:
                continue  # only with the real files (paper scale)
            lookup(metrics, path)


@pytest.mark.integration
def test_kedro_session_runs_every_stage(project_factory, kedro_run):
    root = project_factory("lada")
    store = root.parent / "mlflow.db"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("REVIS_MLFLOW_DB", str(store))
        patch.chdir(root)
        for stage in ("ingest", "train", "evaluate"):
            kedro_run(root, "lada", tags=[stage])
    metrics = json.loads((root / "reports/lada/metrics.json").read_text())
    assert "teacher_student_1" in metrics["ap50"] and metrics["labels"]["world"]["source"]["box_count_ratio"] > 1
    assert (root / "data/01_raw/lada/world/labels/hpwren_target_test.json").is_file()
    for picture in ("world_samples", "predictions", "pseudo_labels", "ap_per_arm"):
        assert (root / "reports/lada/plots" / f"{picture}.png").stat().st_size > 5_000
    client = mlflow.MlflowClient(f"sqlite:///{store}")
    runs = client.search_runs([client.get_experiment_by_name("lada").experiment_id])
    assert {r.data.tags["dvc_stage"] for r in runs} == {"lada-ingest", "lada-train", "lada-evaluate"}
    train = next(r for r in runs if r.data.tags["dvc_stage"] == "lada-train")
    assert any(k.startswith("lada/teacher_student_1/seed0/") for k in train.data.metrics)  # curves logged


def load_claims(path: Path) -> tuple[ClaimsFile, list[str]]:
    """The claims file and the metric paths its gates and extension claims read."""
    claims = ClaimsFile.model_validate(yaml.safe_load(path.read_text()))
    for gate in claims.gates:
        assert gate.compare is not None and gate.compare.test == "every_seed", gate.id
    gate_paths = [path for gate in claims.gates for path in claim_paths(gate)]
    extension_paths = [path for c in claims.claims if c.kind == "extension" for path in claim_paths(c)]
    return claims, gate_paths + extension_paths
