"""The divergence guard, the validation split carved from visible data, and the digits DSA ops."""

import pytest
import torch

from revis.distill.config import DMConfig, EvalProtocol, dm_for, protocol_for
from revis.distill.guard import loss_rose, run_guarded
from revis.distill.partial import validation_indices


def test_loss_rose_compares_the_first_and_last_tenth():
    assert loss_rose([5.0] * 10 + [1.0] * 90)[0] is False
    rose, start, end = loss_rose([1.0] * 10 + [2.0] * 80 + [3.0] * 10)
    assert rose and start == 1.0 and end == 3.0
    assert loss_rose([1.0, float("nan")], share=0.5)[0]  # a non-finite end is a divergence


def test_a_rising_run_is_restarted_at_a_lower_step_and_marked_when_it_keeps_rising():
    calls = []

    def run(lr):  # diverges above lr 0.2, converges below
        calls.append(lr)
        return {"loss": [1.0, 2.0] if lr > 0.2 else [1.0, 0.5]}

    fixed = run_guarded(run, 1.0, lambda r: r["loss"], restarts=2, factor=0.3)
    assert calls == pytest.approx([1.0, 0.3, 0.09]) and fixed["guard"]["restarts"] == 2
    assert fixed["guard"]["diverged"] is False and fixed["guard"]["lr"] == pytest.approx(0.09)
    calls.clear()
    broken = run_guarded(run, 10.0, lambda r: r["loss"], restarts=1, factor=0.5)
    assert calls == [10.0, 5.0] and broken["guard"]["diverged"] is True  # reported, never silently scored
    # several losses: any one rising counts (a total can fall while its DM part rises)
    both = run_guarded(lambda lr: {}, 1.0, lambda r: {"total": [3.0, 1.0], "dm": [1.0, 2.0]}, restarts=0)
    assert both["guard"]["diverged"] and both["guard"]["rose"] == "dm" and both["guard"]["loss_start"] == 3.0
    with pytest.raises(ValueError, match="factor"):
        run_guarded(run, 1.0, lambda r: r["loss"], factor=1.0)


def test_a_collapsed_run_is_restarted_and_reported_even_when_its_loss_falls():
    calls = []

    def run(lr):  # every candidate lost above lr 0.2 (the loss of an empty set falls to 0)
        calls.append(lr)
        return {"loss": [1.0, 0.0], "alive": 0 if lr > 0.2 else 3}

    def empty(result):
        return result["alive"] == 0

    fixed = run_guarded(run, 1.0, lambda r: r["loss"], factor=0.3, collapsed=empty)
    assert calls == pytest.approx([1.0, 0.3, 0.09]) and fixed["alive"] == 3
    assert fixed["guard"]["restarts"] == 2 and not fixed["guard"]["diverged"] and fixed["guard"]["rose"] == ""
    lost = run_guarded(run, 10.0, lambda r: r["loss"], restarts=1, factor=0.5, collapsed=empty)
    assert lost["guard"]["diverged"] and lost["guard"]["rose"] == "collapsed"  # named, never silently scored
    assert not run_guarded(run, 1.0, lambda r: r["loss"], restarts=0)["guard"]["diverged"]  # no check, no flag


def test_validation_is_stratified_seeded_and_keeps_the_starting_images_in_the_pool():
    y = torch.arange(10).repeat_interleave(10)  # 10 per class
    keep = torch.arange(0, 100, 10)  # the first image of each class starts the synthesis
    val = validation_indices(y, keep, 0.3, seed=0)
    assert torch.equal(torch.bincount(y[val], minlength=10), torch.full((10,), 3))
    assert not set(val.tolist()) & set(keep.tolist()) and len(set(val.tolist())) == 30
    assert torch.equal(val, validation_indices(y, keep, 0.3, seed=0))
    assert not torch.equal(val, validation_indices(y, keep, 0.3, seed=1))
    two = torch.arange(10).repeat_interleave(2)  # 2 per class, one of them the start: one validation image
    assert len(validation_indices(two, torch.arange(0, 20, 2), 0.3, seed=0)) == 10
    assert len(validation_indices(two[::2], torch.arange(10), 0.3, seed=0)) == 0  # nothing left to carve


def test_digits_drop_flip_from_dsa_and_other_datasets_keep_it():
    protocol, dm = EvalProtocol(), DMConfig()
    assert "flip" in protocol.augment and "flip" in dm.augment
    assert "flip" not in protocol_for("digits", protocol).augment and "flip" not in dm_for("digits", dm).augment
    assert protocol_for("shapes", protocol).augment == protocol.augment == dm_for("cifar10", dm).augment
    assert len(protocol_for("digits", protocol).augment) == len(protocol.augment) - 1
