"""ultralytics YOLO on CPU through revis: offline, settings under data/, no MLflow side effects."""

from pathlib import Path

import mlflow
import numpy as np
import pytest
import torch

from revis.datasets.imageset import DataError
from revis.datasets.voc import VocObject, VocScene, read_voc_folder, write_voc
from revis.detection.ultralytics_env import INTEGRATIONS, import_ultralytics
from revis.detection.yolo import (
    YoloConfig,
    ap50_of,
    evaluate_yolo,
    load_model_state,
    model_state,
    scaled_model_yaml,
    train_yolo,
)
from revis.detection.yolo_format import write_yolo_dataset

TINY = YoloConfig(imgsz=64, epochs=1, batch=2)


def _scenes(n: int) -> list[VocScene]:
    rng = np.random.default_rng(1)
    scenes = []
    for i in range(n):
        image = rng.integers(60, 90, (64, 64, 3), dtype=np.uint8)
        image[10:30, 12:34] = 220
        scenes.append(VocScene(f"{i:06d}", image, [VocObject("square", (12.0, 10.0, 34.0, 30.0))]))
    return scenes


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One epoch of YOLOv8n on 4 tiny images, run inside a project-like folder with an active MLflow run."""
    root = tmp_path_factory.mktemp("yolo")
    scenes = _scenes(6)
    ids = [s.image_id for s in scenes]
    write_voc(root / "VOCmini", scenes, {"train": ids[:4], "test": ids[4:]}, ["square", "circle"])
    voc = read_voc_folder(root / "VOCmini")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        import_ultralytics(root / "data" / "ultralytics")
        dataset = write_yolo_dataset(root / "data" / "yolo", voc.split("train") + voc.split("test"), voc.class_names)
        data_yaml = dataset.write_yaml("t", ids[:4], ids[4:])
        mlflow.set_tracking_uri(f"sqlite:///{root / 'mlflow.db'}")
        try:
            experiment = mlflow.MlflowClient().create_experiment("stage")  # not whatever earlier tests set
            with mlflow.start_run(
                run_name="stage", experiment_id=experiment
            ) as run:  # what a Kedro stage has open while YOLO trains
                net = train_yolo(data_yaml, TINY, seed=0, run_dir=root / "data" / "ultralytics" / "runs" / "t")
                before = {k: v.clone() for k, v in net.state_dict().items()}
                result = evaluate_yolo(
                    net, data_yaml, TINY, root / "data" / "ultralytics" / "runs" / "v", keep_stats=True
                )
            client = mlflow.MlflowClient()
            runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
            params = client.get_run(run.info.run_id).data.params
        finally:
            mlflow.set_tracking_uri("")
        yield {"root": root, "net": net, "before": before, "result": result, "runs": runs, "params": params}


@pytest.mark.integration
def test_mlflow_callback_is_off_and_nothing_scatters(trained):
    # the name starts with test_mlflow: ultralytics' own pytest guard would let its callback run if it were on
    from ultralytics.utils import SETTINGS

    root = trained["root"]
    assert all(SETTINGS[key] is False for key in INTEGRATIONS) and SETTINGS["sync"] is False
    assert [r.info.run_name for r in trained["runs"]] == ["stage"]  # no run opened by ultralytics
    assert not {"imgsz", "epochs", "optimizer", "batch"} & set(trained["params"])  # nor params logged into ours
    for place in (root, Path.cwd()):
        assert not (place / "mlruns").exists() and not (place / "runs").exists()
    assert not (root / "data" / "ultralytics" / "runs" / "t").exists()  # the save dir is removed afterwards


def test_mlflow_callback_would_be_registered_if_enabled():
    """The control for the test above: with mlflow=True ultralytics registers its callback on a trainer."""
    import_ultralytics()
    from ultralytics.utils import SETTINGS, callbacks
    from ultralytics.utils.callbacks import mlflow as ul_mlflow

    class FakeTrainer:
        def __init__(self) -> None:
            self.callbacks = callbacks.get_default_callbacks()

    try:
        SETTINGS.update(mlflow=True)
        on = FakeTrainer()
        callbacks.add_integration_callbacks(on)
    finally:
        SETTINGS.update(mlflow=False)
    off = FakeTrainer()
    callbacks.add_integration_callbacks(off)
    hook = ul_mlflow.callbacks["on_pretrain_routine_end"]
    assert hook in on.callbacks["on_pretrain_routine_end"] and hook not in off.callbacks["on_pretrain_routine_end"]


def test_settings_and_runs_live_under_data():
    from ultralytics.utils import SETTINGS

    assert Path(SETTINGS["runs_dir"]).parts[-2:] == ("ultralytics", "runs")
    assert "data" in Path(SETTINGS["runs_dir"]).parts
    assert not str(SETTINGS.file).startswith(str(Path.home() / ".config"))


@pytest.mark.integration
def test_evaluation_reports_ap_and_leaves_the_model_unfused(trained):
    result = trained["result"]
    assert 0 <= result["ap50"] <= 1 and 0 <= result["ap50_95"] <= result["ap50"] + 1e-9
    assert result["n_images"] == 2 and set(result["ap50_per_class"]) <= {"square", "circle"}
    after = trained["net"].state_dict()
    assert after.keys() == trained["before"].keys()
    assert all(torch.equal(after[k], v) for k, v in trained["before"].items())


@pytest.mark.integration
def test_ap50_recomputed_from_the_kept_matches_equals_ultralytics(trained):
    result = trained["result"]
    assert len(result["stats"]) == result["n_images"] == 2
    assert ap50_of(result["stats"]) == pytest.approx(result["ap50"], abs=1e-9)
    assert len(result["ap50_halves"]) == 2


@pytest.mark.integration
def test_model_state_round_trips(trained):
    net = trained["net"]
    clone = load_model_state(model_state(net))
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(net(x)[0], clone(x)[0], atol=1e-5)
    assert clone.names == net.names


@pytest.fixture
def small_yolo_dataset(tmp_path):
    scenes = _scenes(4)
    ids = [s.image_id for s in scenes]
    write_voc(tmp_path / "VOCmini", scenes, {"train": ids[:2], "test": ids[2:]}, ["square", "circle"])
    voc = read_voc_folder(tmp_path / "VOCmini")
    import_ultralytics(tmp_path / "data" / "ultralytics")
    dataset = write_yolo_dataset(tmp_path / "yolo", voc.split("train") + voc.split("test"), voc.class_names)
    return tmp_path, dataset, ids


def test_an_image_ultralytics_skips_in_evaluation_is_an_error_naming_it(small_yolo_dataset):
    # issue 12: a label ultralytics cannot use (the out-of-image box of the report) dropped the image silently
    root, dataset, ids = small_yolo_dataset
    (dataset.root / "labels" / f"{ids[3]}.txt").write_text("0 1.277 1.316 -0.555 -0.633\n")
    data_yaml = dataset.write_yaml("t", ids[:2], ids[2:])
    net = load_model_state(model_state(_untrained_net()))
    with pytest.raises(DataError, match=rf"skipped 1 of 2 test images.*{ids[3]}.*ignoring corrupt"):
        evaluate_yolo(net, data_yaml, TINY, root / "val")


def test_an_image_ultralytics_skips_in_training_is_an_error_naming_it(small_yolo_dataset):
    root, dataset, ids = small_yolo_dataset
    (dataset.root / "labels" / f"{ids[1]}.txt").write_text("0 0.5 0.5 0.2\n")  # four columns
    data_yaml = dataset.write_yaml("t", ids[:2], ids[2:])
    with pytest.raises(DataError, match=rf"skipped 1 of 2 training images.*{ids[1]}"):
        train_yolo(data_yaml, TINY, seed=0, run_dir=root / "run")


def _channels(net: torch.nn.Module) -> list[int]:
    return [m.out_channels for m in net.modules() if isinstance(m, torch.nn.Conv2d)]


def test_a_width_multiple_narrows_every_layer_and_keeps_the_depth(tmp_path):
    import_ultralytics(tmp_path / "data" / "ultralytics")
    from ultralytics.nn.tasks import DetectionModel

    path = scaled_model_yaml("yolov8n.yaml", 0.125, tmp_path / "model")
    assert path.name == "yolov8n.yaml"  # the scale letter stays in the name: ultralytics picks the same row
    narrow = DetectionModel(cfg=str(path), nc=2, verbose=False)
    default = DetectionModel(cfg="yolov8n.yaml", nc=2, verbose=False)
    assert len(_channels(narrow)) == len(_channels(default))  # same layers and repeats (depth 0.33 kept)
    assert _channels(narrow)[:4] == [8, 16, 16, 16] and _channels(default)[:4] == [16, 32, 32, 32]
    assert sum(p.numel() for p in narrow.parameters()) < 0.4 * sum(p.numel() for p in default.parameters())
    clone = load_model_state(model_state(narrow))  # the stored yaml dict rebuilds the narrow model
    assert _channels(clone) == _channels(narrow)


def test_training_with_a_width_multiple_trains_the_narrow_model_and_cleans_up(small_yolo_dataset):
    root, dataset, ids = small_yolo_dataset
    data_yaml = dataset.write_yaml("t", ids[:2], ids[2:])
    config = YoloConfig(imgsz=64, epochs=1, batch=2, width_multiple=0.125)
    net = train_yolo(data_yaml, config, seed=0, run_dir=root / "runs" / "w")
    assert _channels(net)[0] == 8
    assert not (root / "runs").exists() or not any((root / "runs").iterdir())  # run and model yaml removed


def _untrained_net() -> torch.nn.Module:
    import_ultralytics()
    from ultralytics.nn.tasks import DetectionModel

    net = DetectionModel(cfg="yolov8n.yaml", nc=2, verbose=False)
    net.names = {0: "square", 1: "circle"}
    return net.eval()
