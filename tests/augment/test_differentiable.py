import pytest
import torch

from revis.augment import OPS, DiffAugment


def _batch(n=4, c=3, s=16, seed=0):
    return torch.rand(n, c, s, s, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("op", OPS)
def test_each_op_is_differentiable_and_keeps_the_shape(op):
    x = _batch().requires_grad_(True)
    out = DiffAugment([op])(x, torch.Generator().manual_seed(1))
    assert out.shape == x.shape
    out.square().sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_one_draw_applies_the_same_transformation_to_two_batches():
    aug = DiffAugment(["color", "crop", "cutout", "flip", "scale", "rotate", "noise"])
    real, syn = _batch(6, seed=0), _batch(2, seed=1)
    draw = aug.draw(1, real.shape[1:], torch.Generator().manual_seed(3))
    together = aug.apply(torch.cat([real, syn]), draw)
    # siamese: the synthetic batch gets exactly what it would get next to the real one
    assert torch.allclose(aug.apply(syn, draw), together[6:], atol=1e-6)
    assert torch.allclose(aug.apply(real, draw), together[:6], atol=1e-6)
    # a shared draw is not the identity, and a per-image draw differs from image to image
    assert not torch.allclose(aug.apply(real, draw), real)
    same = _batch(1).repeat(4, 1, 1, 1)
    per_image = aug(same, torch.Generator().manual_seed(4))
    assert not torch.allclose(per_image[0], per_image[1])


def test_draws_are_seeded_and_validated():
    aug = DiffAugment(["crop", "rotate"])
    x = _batch()
    a = aug(x, torch.Generator().manual_seed(7))
    b = aug(x, torch.Generator().manual_seed(7))
    assert torch.equal(a, b)
    with pytest.raises(ValueError, match="unknown augmentation"):
        DiffAugment(["zoom"])
    with pytest.raises(ValueError, match="cannot augment"):
        aug.apply(x, aug.draw(3, x.shape[1:], torch.Generator()))
    assert not DiffAugment([])


def test_single_mode_applies_one_op_per_draw_shared_by_the_batch():
    aug = DiffAugment(["crop", "flip", "rotate"], single=True)
    chosen = set()
    for seed in range(20):
        draw = aug.draw(1, (3, 16, 16), torch.Generator().manual_seed(seed))
        assert len(draw.ops) == 1 and set(draw.values) == set(draw.ops)
        chosen |= set(draw.ops)
    assert chosen == {"crop", "flip", "rotate"}  # every op gets its turn
    x = _batch()
    draw = aug.draw(1, x.shape[1:], torch.Generator().manual_seed(1))
    assert torch.allclose(aug.apply(x, draw)[:2], aug.apply(x[:2], draw), atol=1e-6)  # siamese
