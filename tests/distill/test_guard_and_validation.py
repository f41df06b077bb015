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


def test_best_scored_prefers_accuracy_then_lower_loss_and_never_picks_an_excluded_run():
    from revis.distill.guard import best_scored

    assert best_scored([(0.8, 1.0), (0.8, 0.5), (0.7, 0.1)]) == 1
    assert best_scored([(0.6, 1.0), (0.6, 1.0)]) == 0  # ties keep the first (the grid's order)
    assert best_scored([None, (0.1, 9.0)]) == 1 and best_scored([None, None]) is None and best_scored([]) is None


def _chosen_job(grid: tuple[float, ...], rising_trials: str = "exclude"):
    from revis.distill.dm import DMJob
    from revis.kkt.synthesis import ChosenDMDKKTJob

    y = torch.arange(2).repeat_interleave(5)
    dm = DMJob(torch.zeros(10, 1, 4, 4), y, DMConfig(lr=1.0), 2, 0, torch.zeros(2, 1, 4, 4), torch.arange(2))
    return ChosenDMDKKTJob(dm, None, None, grid, 0.3, None, (1, 2, 4), torch.tensor([0, 5]), rising_trials)  # type: ignore[arg-type]


def _fake_runs(monkeypatch, rises: set[float], accuracy: dict[float, float]) -> list[tuple]:
    """Fake DM + DKKT runs (weights in ``rises`` rise at lr 1.0) and validation scores; returns the run calls."""
    import revis.kkt.synthesis as synthesis

    calls: list[tuple] = []

    def run(dm, teacher, term, x, y, weight, *, lr=None, restarts=2):  # the guard: rerun × 0.3 while it rises
        lr = dm.config.lr if lr is None else lr
        calls.append((weight, len(x), lr, restarts))
        rose = weight in rises and lr > 0.5
        guard = {"restarts": int(rose and restarts > 0), "diverged": rose and restarts == 0}
        return {"images": weight, "labels": None, "history": {"guard": guard}}

    monkeypatch.setattr(synthesis, "_dm_dkkt", run)
    monkeypatch.setattr(synthesis, "_validation_score", lambda trial, *_: (accuracy[trial["images"]], 1.0))
    return calls


def test_a_trial_that_rises_is_excluded_from_the_weight_choice_not_restarted(monkeypatch):
    from revis.kkt.synthesis import dm_dkkt_chosen_job

    calls = _fake_runs(monkeypatch, rises={1.0}, accuracy={0.1: 0.5, 1.0: 0.9})
    choice = dm_dkkt_chosen_job(_chosen_job((0.1, 1.0)))["history"]["choice"]
    # 1.0 would win on accuracy, but its trial rose: no restart, no network, not chosen
    assert choice["chosen"] == 0.1 and choice["excluded"] == [False, True]
    assert choice["validation_accuracy"] == [0.5, None] and choice["validation_loss"] == [1.0, None]
    assert calls == [(0.1, 6, 1.0, 0), (1.0, 6, 1.0, 0), (0.1, 10, 1.0, 2)]  # the final run: all visible, guarded


def test_when_every_trial_rises_all_are_rerun_as_the_guard_would_and_scored(monkeypatch):
    from revis.kkt.synthesis import dm_dkkt_chosen_job

    calls = _fake_runs(monkeypatch, rises={0.1, 1.0}, accuracy={0.1: 0.5, 1.0: 0.9})
    choice = dm_dkkt_chosen_job(_chosen_job((0.1, 1.0)))["history"]["choice"]
    assert choice["chosen"] == 1.0 and choice["excluded"] == [False, False]
    assert choice["validation_accuracy"] == [0.5, 0.9] and [t["restarts"] for t in choice["trials"]] == [1, 1]
    # the reruns continue the guard: its first restart's step (× 0.3) with the restarts it had left
    assert calls[2:] == [(0.1, 6, pytest.approx(0.3), 1), (1.0, 6, pytest.approx(0.3), 1), (1.0, 10, 1.0, 2)]


def test_by_default_a_rising_trial_is_restarted_by_the_guard_and_scored_as_before(monkeypatch):
    from revis.kkt.synthesis import dm_dkkt_chosen_job

    calls = _fake_runs(monkeypatch, rises={1.0}, accuracy={0.1: 0.5, 1.0: 0.9})
    choice = dm_dkkt_chosen_job(_chosen_job((0.1, 1.0), "restart"))["history"]["choice"]
    assert (
        choice["chosen"] == 1.0 and choice["excluded"] == [False, False] and choice["validation_accuracy"] == [0.5, 0.9]
    )
    assert [t["restarts"] for t in choice["trials"]] == [0, 1]
    assert calls == [(0.1, 6, 1.0, 2), (1.0, 6, 1.0, 2), (1.0, 10, 1.0, 2)]
