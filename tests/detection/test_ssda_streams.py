"""Common random numbers across LADA's arms: the same burn-in, the same labeled and unlabeled draws per seed."""

import pytest
import torch

from revis.detection import ssda
from revis.detection.mean_teacher import MeanTeacherConfig, StepReport
from revis.detection.weak_strong import strong_view, weak_view
from revis.world.smoke import SmokeWorldConfig, generate_smoke_world, read_smoke_world, write_smoke_world


def _fingerprint(images: torch.Tensor) -> float:
    """A number that differs between different batches or augmentations (weighted pixel sum)."""
    weights = torch.arange(1, images[0].numel() + 1, dtype=torch.float64).reshape(images.shape[1:])
    return float(sum((image.double() * weights).sum() * (k + 1) for k, image in enumerate(images)))


def fake_supervised_step(model, optimizer, images, boxes, classes, generator, strong=None):
    """Draws what the real step draws, in the same order; reports the augmented batch instead of a loss."""
    weak, _, _ = weak_view(images, boxes, generator)
    return StepReport(loss_sup=_fingerprint(strong_view(weak, generator)))


def fake_teacher_student_step(
    student, teacher, optimizer, labeled, unlabeled, config, generator, hidden=None, unlabeled_generator=None, **_
):
    images, boxes, _ = labeled
    weak_l, _, _ = weak_view(images, boxes, generator)
    weak_u, _, _ = weak_view(unlabeled, hidden, unlabeled_generator)
    labeled_views = strong_view(weak_l, generator)
    unlabeled_views = strong_view(weak_u, unlabeled_generator)
    return StepReport(loss_sup=_fingerprint(labeled_views), loss_unsup=_fingerprint(unlabeled_views))


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    root = tmp_path_factory.mktemp("streams")
    config = SmokeWorldConfig(
        source_cameras=2, source_frames=6, target_cameras=10, target_frames=10, test_cameras=2, test_frames=4
    )
    out = {}
    for name, placement in (("main", "horizon"), ("control", "uniform")):
        write_smoke_world(root / name, generate_smoke_world(0, config, placement))
        folder = read_smoke_world(root / name)
        out[name] = ssda.ReleaseSource(
            str(folder.labels), str(folder.images), str(folder.unlabeled), str(folder.hidden)
        )
    return out


def test_arms_share_their_random_numbers(monkeypatch, sources):
    monkeypatch.setattr(ssda, "supervised_step", fake_supervised_step)
    monkeypatch.setattr(ssda, "teacher_student_step", fake_teacher_student_step)
    arms = ["supervised_1", "teacher_student_1", "teacher_student_coordconv_1", "teacher_student_fragment_1"]
    schedule = ssda.Schedule(
        pretrain_steps=3, steps=5, burn_in=2, batch=2, unlabeled_batch=2, log_every=1, pretrain_per_seed=True
    )
    detector = ssda.DetectorSpec(imgsz=32, coord_layers=(15,))
    out = ssda.run_arms(arms, [0, 1], sources, schedule, detector, MeanTeacherConfig(), workers=1)

    def phase(arm, seed, name, key="loss_sup"):
        run = next(r for r in out.runs if r.arm == arm and r.seed == seed)
        return [point[key] for point in run.curve if point["phase"] == name]

    for seed in (0, 1):
        # one burn-in stream per seed: the CoordConv chain sees its plain twin's burn-in batches and views
        assert phase("teacher_student_1", seed, "burn_in") == phase("teacher_student_coordconv_1", seed, "burn_in")
        # the pretraining of the fragment policy draws the same images as the merged one
        assert phase("teacher_student_1", seed, "pretrain") == phase("teacher_student_fragment_1", seed, "pretrain")
        # after the fork: the same labeled batches for the supervised and teacher-student arms ...
        supervised = phase("supervised_1", seed, "supervised")
        assert supervised == phase("teacher_student_1", seed, "teacher_student")
        assert supervised == phase("teacher_student_coordconv_1", seed, "teacher_student")
        # ... and the same unlabeled images and views for the teacher-student arms of one labeled split
        unlabeled = phase("teacher_student_1", seed, "teacher_student", "loss_unsup")
        assert unlabeled == phase("teacher_student_coordconv_1", seed, "teacher_student", "loss_unsup")
        assert len(set(unlabeled)) == len(unlabeled) == 3  # real draws: no two steps alike
    # seeds differ
    assert phase("supervised_1", 0, "supervised") != phase("supervised_1", 1, "supervised")
    assert phase("teacher_student_1", 0, "burn_in") != phase("teacher_student_1", 1, "burn_in")


def test_score_sample_spans_the_pool_evenly():
    assert ssda.score_sample(10, 3) == [0, 3, 6]
    assert ssda.score_sample(1188, 300)[-1] == 1184  # reaches the pool's last cameras
    assert ssda.score_sample(5, 10) == [0, 1, 2, 3, 4]  # a small pool: all of it
    assert ssda.score_sample(7, 0) == []


@pytest.mark.parametrize(
    ("per_seed", "expected"),
    [
        (True, {"main_merged", "main_fragment", "control_merged"}),
        (False, set()),
        (("main_merged",), {"main_merged"}),
        (("main_fragment", "control_merged"), {"main_fragment", "control_merged"}),
    ],
)
def test_each_pretraining_is_per_seed_or_shared_as_chosen(per_seed, expected):
    arms = ["source_only", "teacher_student_1", "teacher_student_fragment_1", "control_teacher_student_1"]
    chains = ssda.plan_chains(arms, [0, 1, 2], ssda.Schedule(pretrain_per_seed=per_seed, pretrain_seed=5))
    drawn: dict[str, set[int]] = {}
    for chain in chains:
        name = ssda.pretraining_name(chain.world, chain.policy)
        assert chain.pretrain.seed == (chain.seed if name in expected else 5)
        drawn.setdefault(name, set()).add(chain.pretrain.seed)
    assert drawn == {name: {0, 1, 2} if name in expected else {5} for name in ssda.PRETRAININGS}


def test_an_unknown_pretraining_is_refused():
    with pytest.raises(KeyError, match="main_merge"):
        ssda.plan_chains(["source_only"], [0], ssda.Schedule(pretrain_per_seed=("main_merge",)))


def test_the_default_trains_the_main_merged_pretraining_per_seed():
    assert ssda.Schedule().pretrain_per_seed == ("main_merged",)
