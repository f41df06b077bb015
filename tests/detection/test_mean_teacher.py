"""Teacher-student pieces: EMA arithmetic, pseudo-label thresholding, CoordConv under flips, one step, COCO AP."""

import copy
import json
import math

import pytest
import torch
from torch import nn

from revis.detection.coco_eval import coco_ap, coco_results
from revis.detection.coordconv import add_coordconv, coordinate_channels
from revis.detection.detector import build_detector
from revis.detection.mean_teacher import (
    MeanTeacherConfig,
    ema_update,
    make_optimizer,
    matched,
    score_pseudo_labels,
    select_pseudo_labels,
    teacher_student_step,
)
from revis.detection.weak_strong import weak_view


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_ema_update_arithmetic():
    student, teacher = nn.BatchNorm1d(3), nn.BatchNorm1d(3)
    with torch.no_grad():
        student.weight.copy_(torch.tensor([1.0, 2.0, 3.0]))
        teacher.weight.copy_(torch.tensor([3.0, 2.0, 1.0]))
        student.running_mean.copy_(torch.tensor([4.0, 4.0, 4.0]))
        student.num_batches_tracked.fill_(7)
    ema_update(teacher, student, alpha=0.75)
    assert torch.allclose(teacher.weight, torch.tensor([2.5, 2.0, 1.5]))  # 0.75 * t + 0.25 * s
    assert torch.allclose(teacher.running_mean, torch.tensor([1.0, 1.0, 1.0]))  # float buffers averaged too
    assert int(teacher.num_batches_tracked) == 7  # integer buffers copied
    assert torch.equal(student.weight, torch.tensor([1.0, 2.0, 3.0]))  # the student is untouched


def raw_output(boxes_xyxy, scores):
    """An eval-mode YOLO output (1, 4 + 1, A): xywh then the class score."""
    b = torch.tensor(boxes_xyxy, dtype=torch.float32)
    xywh = torch.stack([(b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2, b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]], 1)
    return torch.cat([xywh, torch.tensor(scores)[:, None]], 1).T[None]


class FixedTeacher(nn.Module):
    """A teacher whose eval-mode output is the same raw prediction for every image."""

    def __init__(self, raw: torch.Tensor):
        super().__init__()
        self.raw, self.weight = raw, nn.Parameter(torch.zeros(1))

    def forward(self, x):
        assert not self.training  # the teacher is read in eval mode
        return (self.raw.expand(len(x), -1, -1),)


def test_score_pseudo_labels_counts_matches_against_the_hidden_boxes():
    raw = raw_output([[10, 10, 30, 30], [50, 50, 60, 60], [0, 40, 8, 48]], [0.9, 0.6, 0.2])
    teacher = FixedTeacher(raw).train()
    images = torch.zeros(3, 3, 64, 64, dtype=torch.uint8)
    hidden = [torch.tensor([[10.0, 10, 30, 30]]), torch.tensor([[50.0, 50, 60, 60], [0, 0, 5, 5]]), torch.zeros(0, 4)]
    config = MeanTeacherConfig(tau=0.5, nms_iou=0.5, max_pseudo=20)
    score = score_pseudo_labels(teacher, images, hidden, config, batch=2)  # batches of 2 and 1
    assert (score.images, score.pseudo, score.hits, score.hidden) == (3, 6, 2, 3)  # 2 pseudo-labels per image
    assert score.precision == pytest.approx(2 / 6) and score.recall == pytest.approx(2 / 3)
    assert teacher.training  # its mode is restored
    strict = score_pseudo_labels(teacher, images, hidden, MeanTeacherConfig(tau=0.95))
    assert strict.pseudo == 0 and strict.recall == 0.0 and math.isnan(strict.precision)
    assert strict.to_dict()["hidden"] == 3


def test_pseudo_labels_are_the_detections_at_or_above_tau_after_nms():
    raw = raw_output(
        [[10, 10, 30, 30], [11, 11, 31, 31], [50, 50, 60, 60], [0, 40, 8, 48], [70, 0, 80, 10]],
        [0.9, 0.8, 0.7, 0.6, 0.0005],
    )
    ((boxes, scores, classes),) = select_pseudo_labels(raw, tau=0.7, iou=0.5)
    assert scores.tolist() == pytest.approx([0.9, 0.7])  # 0.8 suppressed by 0.9; 0.7 kept (>= tau); 0.6 dropped
    assert boxes.tolist() == [[10, 10, 30, 30], [50, 50, 60, 60]] and classes.tolist() == [0, 0]
    ((_, low, _),) = select_pseudo_labels(raw, tau=0.0, iou=0.5)
    assert low.tolist() == pytest.approx([0.9, 0.7, 0.6])  # the floor (0.001) drops the last
    assert matched(boxes, torch.tensor([[12.0, 10, 30, 30], [100.0, 100, 110, 110]])) == 1


def test_coordinate_channels_survive_a_horizontal_flip():
    torch.manual_seed(0)
    model = build_detector("yolov8n.yaml", 1, 0, coord_layers=[0, 15], coord_with_r=True)
    seen = []
    wrapped = model.model[0].layer.conv
    hook = wrapped.register_forward_hook(lambda m, inputs, out: seen.append(inputs[0].detach()))
    image = torch.rand(1, 3, 32, 32)
    image[..., :16] = 0.9  # left half bright: the flip visibly moves it
    model.eval()
    with torch.no_grad():
        model(image)
        model(image.flip(-1))
    hook.remove()
    plain, flipped = seen
    assert torch.equal(flipped[:, :3], plain[:, :3].flip(-1))  # the pixels flipped ...
    assert torch.equal(flipped[:, 3:], plain[:, 3:])  # ... the coordinates did not
    assert torch.allclose(plain[0, 3, 0], torch.linspace(-1, 1, 32))  # x: -1 at the left edge of what is seen
    assert torch.allclose(plain[0, 4, :, 0], torch.linspace(-1, 1, 32))  # y: -1 at the top
    assert torch.allclose(plain[0, 5], coordinate_channels(image, True)[0, 2])  # r
    # zero-initialised coordinate weights: the same function as the plain model of the same seed
    base = build_detector("yolov8n.yaml", 1, 0).eval()
    with torch.no_grad():
        assert torch.allclose(model(image)[0], base(image)[0], atol=1e-5)
    with pytest.raises(ValueError, match="Concat"):
        add_coordconv(build_detector("yolov8n.yaml", 1, 0), [11])


def test_weak_view_flips_boxes_with_the_pixels():
    images = torch.zeros(2, 3, 10, 10, dtype=torch.uint8)
    images[:, :, 2:4, 1:3] = 255
    boxes = [torch.tensor([[1.0, 2.0, 3.0, 4.0]])] * 2
    generator = torch.Generator().manual_seed(3)
    out, new_boxes, flipped = weak_view(images, boxes, generator, flip=1.0)
    assert flipped.all() and new_boxes[0].tolist() == [[7.0, 2.0, 9.0, 4.0]]
    assert out[0, 0, 2:4, 7:9].eq(255).all() and out[0, 0, 2:4, 1:3].eq(0).all()


def tiny_batch(n, size=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    images = (torch.rand(n, 3, size, size, generator=g) * 60 + 100).to(torch.uint8)
    images[:, :, 8:20, 10:22] = 230  # a bright "plume"
    return images, [torch.tensor([[10.0, 8.0, 22.0, 20.0]])] * n, [torch.zeros(1, dtype=torch.long)] * n


def one_step(lambda_u):
    student = build_detector("yolov8n.yaml", 1, 0)
    teacher = copy.deepcopy(student)
    optimizer = make_optimizer(student, 0.01, 0.0)
    labeled = tiny_batch(2)
    unlabeled, hidden, _ = tiny_batch(2, seed=1)
    before = {k: v.clone() for k, v in student.state_dict().items()}
    teacher_before = {k: v.clone() for k, v in teacher.state_dict().items()}
    config = MeanTeacherConfig(tau=0.0, lambda_u=lambda_u, alpha=0.9)  # tau 0: the untrained teacher still labels
    report = teacher_student_step(
        student, teacher, optimizer, labeled, unlabeled, config, torch.Generator().manual_seed(0), hidden=hidden
    )
    return student, teacher, before, teacher_before, report


def test_one_teacher_student_step_on_tiny_images():
    student, teacher, before, teacher_before, report = one_step(lambda_u=4.0)
    assert report.pseudo > 0 and report.hidden == 2 and 0 <= report.pseudo_hits <= report.pseudo
    assert torch.isfinite(torch.tensor([report.loss_sup, report.loss_unsup])).all() and report.loss_unsup > 0
    name = "model.0.conv.weight"
    assert not torch.equal(student.state_dict()[name], before[name])  # the student learned
    expected = 0.9 * teacher_before[name] + 0.1 * student.state_dict()[name]
    assert torch.allclose(teacher.state_dict()[name], expected, atol=1e-6)  # the teacher followed by EMA
    # the pseudo-label term moves the result: without it the student ends elsewhere
    without, *_ = one_step(lambda_u=0.0)
    assert not torch.allclose(without.state_dict()[name], student.state_dict()[name])


def test_coco_ap_scores_detections_against_the_released_file(tmp_path):
    gt = {
        "images": [
            {"id": 1, "width": 100, "height": 80, "file_name": "/x/a/1.jpg"},
            {"id": 2, "width": 100, "height": 80, "file_name": "/x/a/2.jpg"},
        ],
        "annotations": [
            {"id": 1, "image_id": 1, "bbox": [10, 10, 30, 20], "area": 600, "category_id": 0, "iscrowd": 0}
        ],
        "categories": [{"supercategory": "WildfireDataset", "id": 0, "name": "smoke"}],
    }
    path = tmp_path / "test.json"
    path.write_text(json.dumps(gt))
    perfect = coco_results([[0, 10, 10, 30, 20, 0.9, 0]], [1, 2])
    assert perfect == [{"image_id": 1, "category_id": 0, "bbox": [10.0, 10.0, 30.0, 20.0], "score": 0.9}]
    assert coco_ap(path, perfect)["ap50"] == pytest.approx(1.0)
    # a more confident false positive on the negative image halves precision at full recall
    with_fp = coco_results([[0, 10, 10, 30, 20, 0.5, 0], [1, 40, 40, 20, 20, 0.9, 0]], [1, 2])
    assert coco_ap(path, with_fp)["ap50"] == pytest.approx(0.5, abs=0.01)
    assert coco_ap(path, [])["ap50"] == 0.0
    with pytest.raises(ValueError, match="image ids"):
        coco_ap(path, coco_results([[0, 1, 1, 2, 2, 0.5, 0]], [9]))
