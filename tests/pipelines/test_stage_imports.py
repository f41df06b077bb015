"""A stage builds only its own kind's nodes: the other kinds' node modules are never imported (start-up)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from kedro.framework.project import configure_project

from revis.dvc_stages import STAGE_KINDS
from revis.pipelines import drop_stand_ins, is_stand_in, only_stage_kinds

REPO = Path(__file__).resolve().parents[2]


def _kinds(pipeline) -> set[str]:
    return {tag for node in pipeline.nodes for tag in node.tags if tag in STAGE_KINDS}


def test_only_the_selected_kind_is_built_and_everything_again_afterwards():
    from revis.pipelines.csod import create_pipeline

    configure_project("revis")
    everything = create_pipeline()
    with only_stage_kinds(["select"]):
        built = create_pipeline()
    stage = drop_stand_ins(built)
    assert _kinds(everything) == {"features", "select", "train", "evaluate"}
    assert _kinds(stage) == {"select"}
    assert {n.name for n in stage.nodes} == {n.name for n in everything.nodes if "select" in n.tags}
    assert all(not is_stand_in(n.func) for n in stage.nodes)
    assert [n for n in built.nodes if is_stand_in(n.func)]  # the other kinds were stand-ins ...
    stand_in = next(n.func for n in built.nodes if is_stand_in(n.func))
    with pytest.raises(RuntimeError, match="another stage kind"):
        stand_in()  # ... which refuse to run
    assert drop_stand_ins(create_pipeline()).nodes == everything.nodes  # the block ended: real modules again


def test_a_stage_process_does_not_import_the_other_kinds_node_modules():
    code = (
        "import sys\n"
        "from kedro.framework.project import configure_project\n"
        "from revis.pipelines import only_stage_kinds, drop_stand_ins\n"
        "configure_project('revis')\n"
        "from revis.pipelines.t2i import create_pipeline\n"
        "with only_stage_kinds(['ingest']):\n"
        "    pipe = drop_stand_ins(create_pipeline())\n"
        "print(sorted(m for m in sys.modules if m.startswith('revis.pipelines.t2i.nodes_')))\n"
        "print('diffusers' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    modules, diffusers = done.stdout.strip().splitlines()[-2:]
    assert modules == "['revis.pipelines.t2i.nodes_ingest']"
    assert diffusers == "False"  # t2i-ingest never loads the UNet's library (seconds of start-up)


def test_parameters_are_deep_copied_without_inferring_and_data_keeps_kedros_inference():
    import numpy as np

    from revis.settings import RevisDataCatalog

    catalog = RevisDataCatalog()
    section = {"sizes": [1, 2], "inner": {"lr": 0.1}}
    catalog["params:section"] = section
    catalog["array"] = np.zeros(3)
    assert catalog["params:section"]._copy_mode == "deepcopy"  # what Kedro would infer, without pandas
    loaded = catalog.load("params:section")
    assert loaded == section and loaded is not section and loaded["inner"] is not section["inner"]
    assert catalog["array"]._copy_mode is None  # anything else: Kedro infers, as before
    assert catalog.load("array").shape == (3,)


def test_a_stage_process_does_not_import_pandas_for_its_parameters():
    code = (
        "import sys\n"
        "from revis.settings import RevisDataCatalog\n"
        "catalog = RevisDataCatalog()\n"
        "catalog['params:a'] = {'b': 1}\n"
        "catalog.load('params:a')\n"
        "print('pandas' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == "False"
