import torch

from revis.augment import DiffAugment
from revis.distill import class_mean_embedding_loss, distribution_matching, evaluate_protocol, fresh_network
from revis.training import TrainConfig

MODEL = {"name": "convnet", "width": 8, "depth": 2, "norm": "instancenorm"}
AUG = DiffAugment(["color", "crop", "cutout", "flip", "scale", "rotate"])


def _data(n=24, classes=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, 8, 8, generator=g), torch.arange(n) % classes


def test_siamese_augmentation_uses_one_draw_for_real_and_synthetic():
    x, y = _data()
    net = fresh_network(MODEL, (3, 3, 8), seed=0)
    real = {c: x[y == c] for c in range(3)}
    # synthetic == real: with the same draw the embeddings match exactly, whatever the draw
    loss = class_mean_embedding_loss(net, real, x, y, AUG, torch.Generator().manual_seed(5))
    assert float(loss.detach()) < 1e-8
    # control: independent draws for the two batches would not match
    g = torch.Generator().manual_seed(5)
    independent = sum(
        ((net.embed(AUG(r, g, shared=True)).mean(0) - net.embed(AUG(r, g, shared=True)).mean(0)) ** 2).sum()
        for r in real.values()
    )
    assert float(independent.detach()) > 1e-6


def test_fresh_networks_differ_by_seed_and_repeat_by_seed():
    a, b, c = (fresh_network(MODEL, (3, 3, 8), seed=s) for s in (1, 1, 2))
    pa, pb, pc = (torch.cat([p.flatten() for p in n.parameters()]) for n in (a, b, c))
    assert torch.equal(pa, pb) and not torch.equal(pa, pc)


def test_distribution_matching_pulls_noise_towards_the_real_classes():
    y = torch.arange(30) % 3  # class c: a bright square in corner c on a dark background
    x = 0.05 * torch.rand(30, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    for i, c in enumerate(y.tolist()):
        x[i, :, 4 * (c % 2) : 4 * (c % 2) + 4, 4 * (c // 2) : 4 * (c // 2) + 4] += 0.9
    syn_y = torch.arange(3)
    init = torch.rand(3, 3, 8, 8, generator=torch.Generator().manual_seed(9))
    result = distribution_matching(
        x,
        y,
        init,
        syn_y,
        num_classes=3,
        model=MODEL,
        iterations=30,
        lr=10.0,
        momentum=0.5,
        batch_real=16,
        augment=None,
        seed=0,
        progress=False,
    )
    assert result.images.shape == init.shape and not torch.equal(result.images, init)
    real = {c: x[y == c] for c in range(3)}

    @torch.no_grad()
    def held_out_loss(images):  # the DM objective on networks the optimisation never saw
        return sum(
            float(
                class_mean_embedding_loss(
                    fresh_network(MODEL, (3, 3, 8), seed=10_000 + s), real, images, syn_y, None, torch.Generator()
                )
            )
            for s in range(10)
        )

    assert held_out_loss(result.images) < 0.8 * held_out_loss(init)
    assert float(result.images.min()) >= 0 and float(result.images.max()) <= 1


def test_distribution_matching_runs_an_extra_objective_and_its_step():
    calls = []

    class Extra:
        def loss(self, x, generator=None):
            return x.mean(), {}

        def step(self):
            calls.append(1)
            return 0

    x, y = _data()
    out = distribution_matching(
        x,
        y,
        x[:3].clone(),
        y[:3],
        num_classes=3,
        model=MODEL,
        iterations=4,
        augment=AUG,
        extra=Extra(),
        extra_weight=1.0,
        progress=False,
    )
    assert len(calls) == 4 and len(out.history["extra"]) == 4


def test_evaluation_protocol_trains_one_model_per_seed():
    x, y = _data(30)
    result = evaluate_protocol(
        x, y, x, y, 3, MODEL, TrainConfig(epochs=2, batch_size=16, lr=0.05), [0, 1], progress=False
    )
    assert result["n"] == 2 and len(result["values"]) == 2 and all(0 <= v <= 1 for v in result["values"])
