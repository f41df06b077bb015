"""Detectors per subset: an equal-steps schedule, de-duplicated jobs, the same results in 1 or 2 processes."""

import numpy as np
import pytest

from revis.datasets.voc import VocObject, VocScene, read_voc_folder, write_voc
from revis.detection.subsets import epochs_for_steps, run_jobs, steps_per_epoch, train_on_subsets
from revis.detection.ultralytics_env import import_ultralytics
from revis.detection.yolo import YoloConfig


def test_every_budget_gets_the_same_number_of_steps():
    assert (steps_per_epoch(10, 4), steps_per_epoch(20, 4), steps_per_epoch(3, 4)) == (3, 5, 1)
    assert (epochs_for_steps(10, 4, 300), epochs_for_steps(20, 4, 300)) == (100, 60)  # 300 steps each
    for budget in (1, 7, 10, 13, 20, 200):
        epochs = epochs_for_steps(budget, 4, 300)
        done = epochs * steps_per_epoch(budget, 4)
        assert 300 <= done < 300 + steps_per_epoch(budget, 4)  # never short, at most one epoch over
    with pytest.raises(ValueError, match="budget"):
        epochs_for_steps(0, 4, 300)


@pytest.fixture(scope="module")
def voc(tmp_path_factory):
    root = tmp_path_factory.mktemp("subsets")
    rng = np.random.default_rng(3)
    scenes = []
    for i in range(6):
        image = rng.integers(60, 90, (64, 64, 3), dtype=np.uint8)
        x, y = 6 + 5 * i, 8 + 3 * i
        image[y : y + 18, x : x + 20] = 220
        scenes.append(VocScene(f"{i:06d}", image, [VocObject("square", (float(x), float(y), x + 20.0, y + 18.0))]))
    ids = [s.image_id for s in scenes]
    write_voc(root / "VOCmini", scenes, {"train": ids[:4], "test": ids[4:]}, ["square", "circle"])
    import_ultralytics(root / "data" / "ultralytics")
    return root, read_voc_folder(root / "VOCmini")


def _job(job_dir, fail):
    job_dir.mkdir(parents=True)
    (job_dir / "partial.txt").write_text("half-written")
    if fail:
        raise RuntimeError("detector failed")
    return {"ok": True}


def test_a_failed_job_leaves_no_scratch_folders_behind(tmp_path):
    # issue 12: a failed detector stage left its partial outputs (job folders) under data/
    workdir = tmp_path / "work"
    (workdir / "job9999").mkdir(parents=True)  # a killed run's leftovers are cleared first
    with pytest.raises(RuntimeError, match="detector failed"):
        run_jobs(_job, [(False,), (True,)], workdir, workers=1)
    assert not workdir.exists()
    assert run_jobs(_job, [(False,)], workdir, workers=1) == [{"ok": True}] and not workdir.exists()


@pytest.mark.integration
def test_one_or_two_processes_give_the_same_results(voc):
    root, data = voc
    train, test = data.split("train"), data.split("test")
    subsets = [
        {"label": "a", "method": "random", "budget": 2, "seed": 0, "image_ids": ["000000", "000001"]},
        {"label": "b", "method": "csod", "budget": 3, "seed": 1, "image_ids": ["000001", "000002", "000003"]},
        {"label": "a_again", "method": "csod", "budget": 2, "seed": 0, "image_ids": ["000001", "000000"]},
    ]
    config = YoloConfig(imgsz=64, batch=2)
    serial = train_on_subsets(train, test, data.class_names, subsets, config, 3, root / "serial", workers=1)
    parallel = train_on_subsets(train, test, data.class_names, subsets, config, 3, root / "parallel", workers=2)
    assert [r["label"] for r in serial] == ["a", "b", "a_again"]
    assert [r["reused"] for r in serial] == [False, False, True]  # the same images and seed train once
    assert serial[2]["weights_l1"] == serial[0]["weights_l1"] and serial[2]["trained_for"] == "a"
    assert serial[0]["weights_l1"] != serial[1]["weights_l1"]  # the fingerprint tells different runs apart
    assert [(r["epochs"], r["steps"]) for r in serial] == [(3, 3), (2, 4), (3, 3)]
    keys = ("weights_l1", "ap50", "ap50_95", "epochs", "steps", "reused", "n_images")
    assert [{k: r[k] for k in keys} for r in parallel] == [{k: r[k] for k in keys} for r in serial]
    assert all(r["n_images"] == 2 for r in serial)
    assert not (root / "serial").exists() and not (root / "parallel").exists()  # scratch folders are removed
    assert all(len(r["ap50_halves"]) == 2 and r["history"] for r in serial)


def test_unknown_images_are_refused(voc):
    root, data = voc
    bad = [{"label": "x", "method": "random", "budget": 1, "seed": 0, "image_ids": ["000005"]}]  # a test image
    with pytest.raises(KeyError, match="000005"):
        train_on_subsets(
            data.split("train"),
            data.split("test"),
            data.class_names,
            bad,
            YoloConfig(imgsz=64, batch=2),
            1,
            root / "bad",
        )
