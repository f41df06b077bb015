import pytest
import torch

from revis.augment import DiffAugment
from revis.distill import (
    DMConfig,
    EvalProtocol,
    class_mean_embedding_loss,
    distribution_matching,
    fresh_network,
    initial_images,
    load_network,
    score,
    train_networks,
    train_on_set,
)
from revis.distill.evaluation import summarize
from revis.distill.partial import fraction_key, fraction_value, ordered, partial_indices
from revis.models import ModelConfig

MODEL = ModelConfig(name="convnet", width=8, depth=2, norm="instancenorm")
AUG = DiffAugment(["color", "crop", "cutout", "flip", "scale", "rotate"], single=True)


def _data(n=24, classes=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, 8, 8, generator=g), torch.arange(n) % classes


def test_reference_defaults_are_the_published_recipe():
    dm, protocol = DMConfig(), EvalProtocol()
    assert (dm.iterations, dm.lr, dm.momentum, dm.batch_real, dm.init) == (20_000, 1.0, 0.5, 256, "real")
    assert dm.model.width == 128 and dm.model.grey_stem_padding == 3 and dm.augment[0] == "color"
    assert (protocol.epochs, protocol.lr, protocol.momentum, protocol.weight_decay, protocol.batch_size) == (
        1000,
        0.01,
        0.9,
        5e-4,
        256,
    )


def test_siamese_augmentation_uses_one_draw_for_real_and_synthetic():
    x, y = _data()
    net = fresh_network(MODEL, (3, 3, 8), seed=0)
    real = {c: x[y == c] for c in range(3)}
    loss = class_mean_embedding_loss(net, real, x, y, AUG, torch.Generator().manual_seed(5))
    assert float(loss.detach()) < 1e-8  # synthetic == real: the same draw gives the same embeddings
    g = torch.Generator().manual_seed(5)
    independent = sum(
        ((net.embed(AUG(r, g, shared=True)).mean(0) - net.embed(AUG(r, g, shared=True)).mean(0)) ** 2).sum()
        for r in real.values()
    )
    assert float(independent.detach()) > 1e-6


def test_dm_from_its_own_shots_is_a_fixed_point():
    """DM at equal shots (pool = the shots = its start) never moves: the baseline dsv compares with is the shots."""
    x, y = _data(6)
    config = DMConfig(iterations=5, model=MODEL, augment=["color", "crop", "cutout", "flip", "scale", "rotate"])
    result = distribution_matching(x, y, x, y, config, num_classes=3, seed=0, progress=False)
    assert max(result.history["dm"]) < 1e-10 and torch.allclose(result.images, x)


def test_fresh_networks_differ_by_seed_and_repeat_by_seed():
    a, b, c = (fresh_network(MODEL, (3, 3, 8), seed=s) for s in (1, 1, 2))
    pa, pb, pc = (torch.cat([p.flatten() for p in n.parameters()]) for n in (a, b, c))
    assert torch.equal(pa, pb) and not torch.equal(pa, pc)


def test_distribution_matching_pulls_noise_towards_the_real_classes_and_logs_its_loss():
    y = torch.arange(30) % 3  # class c: a bright square in corner c on a dark background
    x = 0.05 * torch.rand(30, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    for i, c in enumerate(y.tolist()):
        x[i, :, 4 * (c % 2) : 4 * (c % 2) + 4, 4 * (c // 2) : 4 * (c // 2) + 4] += 0.9
    init, labels = initial_images(x, y, 1, 3, "noise", torch.Generator().manual_seed(9))
    config = DMConfig(iterations=30, lr=10.0, batch_real=16, model=MODEL, augment=[])
    from revis import curves

    logged = []
    previous = curves.set_sink(lambda values, step: logged.append((step, values)))
    try:
        result = distribution_matching(
            x, y, init, labels, config, num_classes=3, seed=0, progress=False, curve="dm/seed0"
        )
    finally:
        curves.set_sink(previous)
    assert len(logged) == 30 and "dm/seed0/dm" in logged[0][1] and len(result.history["dm"]) == 30
    real = {c: x[y == c] for c in range(3)}

    @torch.no_grad()
    def held_out_loss(images):  # the DM objective on networks the optimization never saw
        return sum(
            float(
                class_mean_embedding_loss(
                    fresh_network(MODEL, (3, 3, 8), 10_000 + s), real, images, labels, None, torch.Generator()
                )
            )
            for s in range(10)
        )

    assert held_out_loss(result.images) < 0.8 * held_out_loss(init)


def test_initial_images_come_from_the_class_or_from_noise():
    x, y = _data(12)
    images, labels = initial_images(x, y, 2, 3, "real", torch.Generator().manual_seed(0))
    assert labels.tolist() == [0, 0, 1, 1, 2, 2]
    assert all(any(torch.equal(img, xi) for xi in x[y == c]) for img, c in zip(images, labels.tolist()))
    with pytest.raises(ValueError, match="fewer"):
        initial_images(x, y, 5, 3, "real", torch.Generator())


def test_distribution_matching_runs_an_extra_objective_and_its_step():
    calls = []

    class Extra:
        def loss(self, x, generator=None):
            return x.mean(), {}

        def step(self):
            calls.append(1)
            return 0

    x, y = _data()
    config = DMConfig(iterations=4, model=MODEL)
    out = distribution_matching(
        x, y, x[:3].clone(), y[:3], config, num_classes=3, extra=Extra(), extra_weight=1.0, progress=False
    )
    assert len(calls) == 4 and len(out.history["extra"]) == 4


def test_evaluation_networks_are_seeded_and_learn_a_separable_set():
    y = torch.arange(30) % 3
    x = 0.1 * torch.randn(30, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    for i, c in enumerate(y.tolist()):
        x[i, 0, 2 * c : 2 * c + 2] += 2.0
    protocol = EvalProtocol(model=MODEL, epochs=30, lr=0.05, augment=["crop", "flip"])
    a, b = train_on_set(x, y, (1, 3, 8), protocol, 0), train_on_set(x, y, (1, 3, 8), protocol, 0)
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))
    assert score(a, x, y) > 0.9
    nets = train_networks(
        {"s/0": (x, y, 0, (1, 3, 8)), "s/1": (x, y, 1, (1, 3, 8)), "e/0": (x[:0], y[:0], 0, (1, 3, 8))}, protocol
    )
    assert set(nets) == {"s/0", "s/1"} and nets["s/0"]["size"] == 30
    assert score(load_network(nets["s/0"], protocol), x, y) == score(a, x, y)
    summary = summarize({"s/1": 0.5, "s/0": 0.7})
    assert summary["s"]["values"] == [0.7, 0.5] and summary["s"]["seeds"] == [0, 1]


def test_partial_data_is_stratified_with_one_image_per_class_at_least():
    y = torch.arange(200) % 4
    assert torch.bincount(y[partial_indices(y, 0.01, seed=0)]).tolist() == [1, 1, 1, 1]
    assert torch.bincount(y[partial_indices(y, 0.1, seed=0)]).tolist() == [5, 5, 5, 5]
    assert fraction_key(0.05) == "5pct" and fraction_key(0.005) == "0_5pct" and fraction_value("0_5pct") == 0.005
    assert ordered(["10pct/1", "1pct/5", "5pct/1", "1pct/1"]) == ["1pct/1", "1pct/5", "5pct/1", "10pct/1"]


def test_a_set_with_replicate_networks_scores_their_mean_accuracy():
    from revis.distill.evaluation import replicate_key, replicate_seed, score_networks

    y = torch.arange(12) % 3
    x = torch.randn(12, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    protocol = EvalProtocol(model=MODEL, epochs=2, lr=0.05, augment=[])
    sets = {replicate_key("d/s/0", r): (x, y, replicate_seed(0, r), (1, 3, 8)) for r in range(3)}
    nets = train_networks(sets, protocol)
    assert set(nets) == {"d/s/0", "d/s/0~1", "d/s/0~2"} and [nets[k]["seed"] for k in sorted(nets)] == [0, 1000, 2000]
    each = [score(load_network(nets[k], protocol), x, y) for k in ("d/s/0", "d/s/0~1", "d/s/0~2")]
    assert len(set(each)) > 1  # the replicates are different networks
    scored = score_networks(nets, ["s/0", "s/1"], "d/", protocol, x, y, empty=0.25)
    assert scored["s/0"] == pytest.approx(sum(each) / 3) and scored["s/1"] == 0.25  # no network: the constant guess
    one = score_networks({"d/s/0": nets["d/s/0"]}, ["s/0"], "d/", protocol, x, y, empty=0.0)
    assert one["s/0"] == each[0]  # a single network scores as before
    with pytest.raises(ValueError):
        replicate_key("d/s/0", -1)


@pytest.mark.integration
def test_evaluation_networks_and_their_curves_do_not_depend_on_the_workers():
    from revis.curves import set_sink

    y = torch.arange(12) % 3
    x = torch.randn(12, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    protocol = EvalProtocol(model=MODEL, epochs=3, lr=0.05, augment=["crop"])
    sets = {f"d/s/{seed}": (x, y, seed, (1, 3, 8)) for seed in (0, 1, 2)}
    runs, threads = [], torch.get_num_threads()
    for workers in (1, 2):
        points: list = []

        def sink(values, step, points=points):
            points.append((sorted(values.items()), step))

        previous = set_sink(sink)
        torch.set_num_threads(1)  # inline jobs run on this process's threads, a worker's on one
        try:
            nets = train_networks(sets, protocol, workers=workers)
        finally:
            set_sink(previous)
            torch.set_num_threads(threads)
        runs.append((nets, sorted(points)))
    (inline, inline_points), (pooled, pooled_points) = runs
    assert list(inline) == list(pooled)
    for key in inline:  # bit for bit, and each job's curve logged once, whatever the order the jobs ended in
        assert all(
            torch.equal(a, b) for a, b in zip(inline[key]["state_dict"].values(), pooled[key]["state_dict"].values())
        )
    assert inline_points == pooled_points and len(inline_points) == 3 * (protocol.epochs + 1)
