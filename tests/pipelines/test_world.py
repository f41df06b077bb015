"""The world pipeline: schema bounds, wiring in memory, one KedroSession run that writes and reads back."""

import json
from pathlib import Path

import matplotlib.pyplot as plt
import pytest
import yaml

from revis.config.schema import ParameterError, validate_params

REPO = Path(__file__).resolve().parents[2]


def committed_params() -> dict:
    return yaml.safe_load((REPO / "params.yaml").read_text())


@pytest.mark.parametrize(
    ("path", "value", "named"),
    [
        (("detection", "class_frequencies"), [0.4, 0.3, 0.2, 0.1, -0.1], "'world.detection.class_frequencies.4'"),
        (("detection", "class_frequencies"), [0.4, 0.3, 0.2, 0.1, 0.0], "'world.detection.class_frequencies.4'"),
        (("detection", "n_families"), 10**8, "'world.detection.n_families'"),
        (("detection", "n_families"), 40_000, "GiB"),  # within the count bound, but ~23 GiB of scenes
        (("detection", "image_size"), 4096, "'world.detection.image_size'"),
        (("detection", "objects_per_scene"), [2, 500], "'world.detection'"),
        (("detection", "radius"), [8.0, 200.0], "'world.detection'"),
        (("detection", "family_size"), [0, 4], "'world.detection'"),
        (("shapes", "n_train"), 10**8, "'world.shapes.n_train'"),
    ],
)
def test_impossible_or_huge_worlds_fail_in_validation_naming_the_key(path, value, named):
    # issue 12: negative frequencies were accepted; n_train: 1e8 asked for 286 GiB before anything said no
    params = committed_params()
    node = params["world"]
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises(ParameterError) as info:
        validate_params(params)
    assert named in str(info.value)


def test_wiring_in_memory(run_in_memory, tiny_params, monkeypatch):
    from kedro.io import MemoryDataset

    monkeypatch.setattr(MemoryDataset, "_release", lambda self: None)  # keep intermediate outputs to inspect them
    params = committed_params()["world"]
    for section, values in tiny_params["world"].items():
        params[section] = {**params[section], **values}
    outputs = run_in_memory("world", inputs={}, params={"world": params})
    metrics = outputs["world.metrics"]
    detection = outputs["world.detection"]
    assert metrics.detection.test.images == len(detection.split_ids["test"]) == 4  # one image per test family
    assert metrics.detection.train.images == len(detection.split_ids["train"]) >= 6
    assert metrics.shapes.train.images == 100 and metrics.scale.startswith("mini world: shapes 100/50")
    assert sum(metrics.detection.train.boxes_per_class.values()) == metrics.detection.train.boxes
    assert isinstance(outputs["world.plot_detection_samples"], plt.Figure)
    plt.close("all")


@pytest.mark.integration
def test_a_session_run_writes_the_voc_folder_and_reads_it_back(project_factory, kedro_run, monkeypatch):
    root = project_factory("world")
    monkeypatch.setenv("REVIS_MLFLOW_DB", str(root.parent / "mlflow.db"))
    monkeypatch.chdir(root)
    kedro_run(root, "world")
    from revis.datasets.voc import read_voc_folder

    voc = read_voc_folder(root / "data/01_raw/detection/VOCmini")
    metrics = json.loads((root / "reports/world/metrics.json").read_text())
    assert len(voc.split_ids["test"]) == metrics["detection"]["test"]["images"] == 4
    assert voc.report.boxes.clipped == 0 and voc.report.filename_fallbacks == 0
    assert (root / "reports/world/plots/detection_samples.png").stat().st_size > 5_000
