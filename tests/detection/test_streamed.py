"""The streamed unlabeled pool: the eager pool's tensors, batch by batch, without holding the images."""

import numpy as np
import pytest
import torch
from PIL import Image

from revis.datasets.coco import read_coco_detections
from revis.datasets.imageset import DataError
from revis.detection import ssda
from revis.detection.letterboxed import letterbox_coco
from revis.detection.mean_teacher import MeanTeacherConfig
from revis.detection.pool_benchmark import write_pool
from revis.detection.streamed import StreamedImages, concat_sets, stream_coco


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    """Seven 80 x 50 frames and one portrait 40 x 60 frame, in the release's layout."""
    root = tmp_path_factory.mktemp("pool")
    labels = write_pool(root, 7, 80, 50, cameras=3)
    portrait = root / "images" / "20160604_FIRE_smer-tcs00-mobo-c" / "portrait.jpg"
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (60, 40, 3), dtype=np.uint8)).save(portrait)
    document = labels.read_text().replace(
        '"images": [',
        '"images": [\n        {"id": 99, "width": 40, "height": 60, '
        '"file_name": "/elsewhere/20160604_FIRE_smer-tcs00-mobo-c/portrait.jpg"},',
        1,
    )
    labels.write_text(document)
    return read_coco_detections(labels, root / "images")


def test_streamed_batches_are_the_eager_tensors(pool):
    eager, streamed = letterbox_coco(pool, 32), stream_coco(pool, 32)
    assert streamed.streamed and not eager.streamed and len(streamed) == len(eager) == 8
    assert streamed.images.shape == tuple(eager.images.shape)
    for index in ([3, 1, 7, 1, 0], torch.tensor([6, 2]), slice(2, 6), slice(None)):
        batch = streamed.images[index]
        assert batch.dtype == torch.uint8 and torch.equal(batch, eager.images[index])
    assert torch.equal(streamed.images[0], eager.images[0])  # the portrait frame: pillarboxed
    assert torch.equal(streamed.scale, eager.scale) and torch.equal(streamed.pad, eager.pad)
    assert all(torch.equal(a, b) for a, b in zip(streamed.boxes, eager.boxes))
    assert streamed.file_names == eager.file_names and streamed.image_ids == eager.image_ids
    # subsets and concatenations: the same rows in the same order
    rows = [5, 0, 7, 2]
    sub_e, sub_s = eager.subset(rows), streamed.subset(rows)
    assert torch.equal(sub_s.images[[3, 0, 1]], sub_e.images[[3, 0, 1]])
    assert torch.equal(concat_sets([streamed, sub_s]).images[:], concat_sets([eager, sub_e]).images)
    with pytest.raises(ValueError, match="in-memory and streamed"):
        concat_sets([eager, sub_s])


def test_streamed_pool_holds_no_images(pool):
    streamed = stream_coco(pool, 32)
    images = streamed.images
    assert isinstance(images, StreamedImages)
    # after construction: a path table, sizes and an index -- no pixel array anywhere
    held = [v for v in vars(images).values() if isinstance(v, (np.ndarray, torch.Tensor))]
    assert [a.dtype for a in held] == [np.dtype(np.int64)] and held[0].nbytes == 8 * len(images)
    assert all(isinstance(p, str) for p in images.paths)
    # a subset (an arm's pool) is a read-only view of the same table, not a copy
    view = streamed.subset([1, 2, 3]).images
    assert isinstance(view, StreamedImages) and view.shares_table(images) and len(view) == 3
    assert view.paths == images.paths[1:4]
    with pytest.raises(ValueError):
        view._index[0] = 0


def test_decode_threads_do_not_change_a_batch(pool):
    one, four = stream_coco(pool, 32), stream_coco(pool, 32, threads=4)
    assert torch.equal(one.images[[7, 0, 3, 3]], four.images[[7, 0, 3, 3]])


def test_a_file_that_is_not_its_listed_size_is_an_error(pool):
    image = pool.images[1]
    wrong = StreamedImages([image.path], [(image.width + 1, image.height)], 32)
    with pytest.raises(DataError, match="listed as"):
        wrong[[0]]


def test_arms_train_on_the_streamed_pool_as_on_the_eager_one(monkeypatch, tmp_path):
    """The same unlabeled batches, views and final pseudo-label scores whether the pool is streamed or not."""
    from test_ssda_streams import fake_supervised_step, fake_teacher_student_step  # this folder (rootdir import)

    from revis.world.smoke import SmokeWorldConfig, generate_smoke_world, read_smoke_world, write_smoke_world

    config = SmokeWorldConfig(
        source_cameras=2, source_frames=6, target_cameras=10, target_frames=10, test_cameras=2, test_frames=4
    )
    write_smoke_world(tmp_path / "main", generate_smoke_world(0, config, "horizon"))
    folder = read_smoke_world(tmp_path / "main")
    sources = {
        "main": ssda.ReleaseSource(str(folder.labels), str(folder.images), str(folder.unlabeled), str(folder.hidden))
    }
    monkeypatch.setattr(ssda, "supervised_step", fake_supervised_step)
    monkeypatch.setattr(ssda, "teacher_student_step", fake_teacher_student_step)
    arms = ["teacher_student_1", "teacher_student_fragment_1"]
    schedule = ssda.Schedule(pretrain_steps=2, steps=4, burn_in=1, batch=2, unlabeled_batch=3, log_every=1)
    schedule = ssda.Schedule(**{**vars(schedule), "pseudo_score_images": 7})
    detector = ssda.DetectorSpec(imgsz=32, coord_layers=(15,))

    def run():
        ssda._CACHE.clear()
        return ssda.run_arms(arms, [0], sources, schedule, detector, MeanTeacherConfig(tau=0.0), workers=1).runs

    streamed = run()
    pools = [v for k, v in ssda._CACHE.items() if k[0] == "lb" and k[-1]]
    assert len(pools) == 1 and pools[0].streamed  # one pool per process, streamed
    monkeypatch.setattr(ssda, "stream_coco", letterbox_coco)
    eager = run()
    assert [r.curve for r in streamed] == [r.curve for r in eager]
    assert [r.final_pseudo for r in streamed] == [r.final_pseudo for r in eager]
    assert all(torch.equal(a.detections, b.detections) for a, b in zip(streamed, eager))
    assert all(r.unlabeled_images > 0 and r.final_pseudo["images"] == 7 for r in streamed)
    ssda._CACHE.clear()
