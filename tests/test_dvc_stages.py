"""The generated dvc.yaml: one stage per (pipeline, kind), exact params, per-file code deps, refusals."""

import functools
import json
import re
from pathlib import Path

import pytest
from kedro.pipeline import node, pipeline

from revis.dvc_stages import (
    CHECK_STAGE,
    VALID_STAMP,
    DagError,
    build_dvc_yaml,
    code_closure,
    code_stamp_path,
    lazy_names,
    project_document,
    render,
    stamp_path,
    write_code_stamps,
)

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def document():
    return project_document(REPO)


@pytest.fixture(scope="module")
def stages(document):
    return document["stages"]


def test_committed_dvc_yaml_equals_a_fresh_generation(document):
    assert (REPO / "dvc.yaml").read_text() == render(document), "run `kedro dvc-yaml` and commit"


def test_check_params_runs_first_and_every_stage_waits_for_it(stages):
    names = list(stages)
    assert names[0] == CHECK_STAGE and stages[CHECK_STAGE]["always_changed"] is True
    assert stages[CHECK_STAGE]["deps"] == ["params.yaml"]
    for name, stage in stages.items():
        if name != CHECK_STAGE:
            assert VALID_STAMP in stage["deps"], name


def test_every_stage_runs_one_kind_of_one_pipeline_with_exact_params(stages):
    assert stages["baseline-train"]["cmd"] == "./run-stage baseline train"
    assert "baseline" in stages["baseline-train"]["params"]
    assert "params" not in stages["baseline-evaluate"]  # evaluate reads no parameter directly
    assert {"reports/baseline/metrics.json": {"cache": False}} in stages["baseline-evaluate"]["metrics"]
    assert "reports/baseline/plots/training_curves.png" in stages["baseline-evaluate"]["plots"]
    assert "data/06_models/baseline/models.pt" in stages["baseline-evaluate"]["deps"]


def test_code_deps_are_the_files_each_stage_imports(stages):
    train, evaluate = stages["baseline-train"]["meta"]["code"], stages["baseline-evaluate"]["meta"]["code"]
    assert "src/revis/pipelines/baseline/nodes_train.py" in train
    assert "src/revis/pipelines/baseline/nodes_train.py" not in evaluate  # a plot title never retrains
    assert "src/revis/pipelines/baseline/nodes_evaluate.py" not in train
    assert "src/revis/training/trainer.py" in train and "src/revis/training/pictures.py" not in train
    assert "src/revis/training/pictures.py" in evaluate
    assert "src/revis/world/shapes.py" not in train  # code deps follow imports, not folders
    for name, stage in stages.items():  # wiring, validation messages and tracking never rerun results
        code = stage.get("meta", {}).get("code", [])
        assert (name == CHECK_STAGE) != bool(code), name
        assert not {d for d in code if d.startswith(("src/revis/config/", "src/revis/tracking/"))}
        assert "src/revis/hooks.py" not in code and "src/revis/pipelines/baseline/pipeline.py" not in code
    # a dataset class's own module, not the whole catalog package
    assert "src/revis/catalog/files.py" in train and "src/revis/catalog/voc.py" not in train
    assert "src/revis/catalog/images.py" in train  # it reads the shapes folder and digits.npz


def test_the_closure_includes_package_inits_and_transitive_imports():
    closure = code_closure({"revis.pipelines.baseline.nodes_train"}, REPO / "src")
    assert {"revis.models", "revis.models.config", "revis.training", "revis.training.trainer"} <= closure
    assert "revis.atomic" in closure  # trainer -> atomic (checkpoints)
    assert "revis.pipelines.baseline" not in closure  # the wiring package


def test_names_of_lazy_packages_resolve_to_the_submodule_that_defines_them(tmp_path):
    pkg = tmp_path / "revis" / "lazy"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text('_WHERE = {"fit": "heavy", "Schema": "config"}\n')
    (pkg / "heavy.py").write_text("import revis.lazy.config\n")
    (pkg / "config.py").write_text("")
    (pkg / "other.py").write_text("")
    (tmp_path / "revis" / "user.py").write_text("from revis.lazy import fit\n")
    assert lazy_names(pkg / "__init__.py") == {"fit": "heavy", "Schema": "config"}
    closure = code_closure({"revis.user"}, tmp_path)
    assert {"revis.lazy", "revis.lazy.heavy", "revis.lazy.config"} <= closure
    assert "revis.lazy.other" not in closure


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


def test_functions_the_generator_cannot_see_through_are_rejected():
    partial = {"p": pipeline([node(functools.partial(_identity), "a", "b", name="wrapped", tags=["train"])])}
    with pytest.raises(DagError, match=re.escape("functools.partial")):
        build_dvc_yaml(partial, _resolver({"a", "b"}), REPO)
    anonymous = {"p": pipeline([node(lambda x: x, "a", "b", name="anonymous", tags=["train"])])}
    with pytest.raises(DagError, match="named function"):
        build_dvc_yaml(anonymous, _resolver({"a", "b"}), REPO)


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
    assert "data/b.json" in document["stages"]["p-evaluate"]["deps"]


def test_a_stage_reading_a_data_path_depends_on_its_fingerprint():
    pipes = {
        "p": pipeline(
            [
                node(_identity, "params:p.data", "b", name="reads_data", tags=["train"]),
                node(_identity, "params:p.other", "c", name="reads_other", tags=["evaluate"]),
            ]
        )
    }
    document = build_dvc_yaml(pipes, _resolver({"b", "c"}), REPO, data_paths=["p.data.root"])["stages"]
    assert stamp_path("p.data.root") in document["p-train"]["deps"]
    assert stamp_path("p.data.root") not in document["p-evaluate"]["deps"]
    assert {stamp_path("p.data.root"): {"cache": False}} in document[CHECK_STAGE]["outs"]


def test_a_stage_depends_on_one_code_stamp_that_check_params_writes(stages):
    # dvc.lock holds one entry per stage for its code, not one per file: DVC rewrites the lock after
    # every stage, and ~1,300 file entries cost ~1.5 s of CPU per stage (revis.dvc_stages)
    for name, stage in stages.items():
        if name != CHECK_STAGE:
            assert stage["deps"][0] == code_stamp_path(name), name
            assert not [d for d in stage["deps"] if d.startswith("src/")], name
            assert {code_stamp_path(name): {"cache": False}} in stages[CHECK_STAGE]["outs"]
    lock_entries = sum(len(stage.get("deps", [])) + len(stage.get("outs", [])) for stage in stages.values())
    assert lock_entries < 600  # it was 1,621 with per-file code deps


def test_code_stamps_change_with_the_listed_files_only(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src/a.py").write_text("A = 1\n")
    (tmp_path / "src/b.py").write_text("B = 1\n")
    spec = {"stages": {CHECK_STAGE: {"cmd": "x"}, "p-train": {"cmd": "y", "meta": {"code": ["src/a.py"]}}}}
    (tmp_path / "dvc.yaml").write_text(json.dumps(spec))  # JSON is YAML
    [stamp] = write_code_stamps(tmp_path)
    assert stamp == tmp_path / code_stamp_path("p-train")
    first = stamp.read_bytes()
    assert list(json.loads(first)) == ["src/a.py"]
    (tmp_path / "src/b.py").write_text("B = 2\n")  # not this stage's code
    write_code_stamps(tmp_path)
    assert stamp.read_bytes() == first  # byte-identical: DVC reruns nothing
    (tmp_path / "src/a.py").write_text("A = 2\n")
    write_code_stamps(tmp_path)
    assert stamp.read_bytes() != first
    (tmp_path / "src/a.py").unlink()
    write_code_stamps(tmp_path)
    assert json.loads(stamp.read_text()) == {"src/a.py": None}


def test_prestarted_stages_are_stages_whose_jobs_run_on_worker_processes(stages):
    from revis.stage import PRESTARTED

    for pipeline_name, kinds in PRESTARTED.items():
        for kind in kinds:
            code = stages[f"{pipeline_name}-{kind}"]["meta"]["code"]
            assert f"src/revis/pipelines/{pipeline_name}/nodes_{kind}.py" in code  # the module the server preloads
            assert "src/revis/workers.py" in code  # a stage without a pool would start the server for nothing
