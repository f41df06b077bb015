import pytest
import torch
import torch.nn.functional as F
from torch import nn

from revis.augment import DiffAugment
from revis.kkt import (
    DeepKKT,
    KKTState,
    KKTWeights,
    Multipliers,
    fit_scale,
    per_sample_grads,
    per_sample_grads_loop,
    primal_loss,
    random_per_class,
    real_multipliers,
    stationarity_loss,
    synthesize,
    top_lambda_per_class,
)
from revis.kkt.gradients import flatten_grads
from revis.models import build_model


def _net(norm="instancenorm", channels=1, classes=3, size=8, width=6, seed=0):
    torch.manual_seed(seed)
    return build_model({"name": "convnet", "width": width, "depth": 2, "norm": norm}, channels, classes, size).eval()


def _data(n=10, channels=1, classes=3, size=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, channels, size, size, generator=g), torch.arange(n) % classes


@pytest.mark.parametrize("norm", ["instancenorm", "batchnorm", "none"])
def test_vmap_per_sample_grads_equal_the_loop(norm):
    net = _net(norm).double()
    x, y = _data()
    fast, logits = per_sample_grads(net, x.double(), y)
    slow = per_sample_grads_loop(net, x.double(), y)
    assert set(fast) == set(slow)
    for name in slow:
        assert fast[name].shape == (10, *dict(net.named_parameters())[name].shape)
        assert torch.allclose(fast[name], slow[name], atol=1e-10)
    assert torch.allclose(logits, net(x.double()))
    chunked, _ = per_sample_grads(net, x.double(), y, chunk_size=3)
    assert all(torch.allclose(chunked[n], slow[n], atol=1e-10) for n in slow)


def test_per_sample_grads_refuse_train_mode():
    with pytest.raises(ValueError, match="eval mode"):
        per_sample_grads(_net().train(), *_data())


def test_stationarity_is_zero_exactly_when_theta_is_the_combination():
    grads = torch.randn(5, 40)
    lam = torch.rand(5)
    theta = -(lam @ grads)
    for distance in ("l1", "l2"):
        assert float(stationarity_loss(theta, grads, lam, distance)) == pytest.approx(0.0, abs=1e-6)
        assert float(stationarity_loss(theta + 0.1, grads, lam, distance)) > 1e-3
    assert float(stationarity_loss(theta + 0.1, grads, lam, "l1")) == pytest.approx(0.1, rel=1e-4)  # mean |.|
    with pytest.raises(ValueError):
        stationarity_loss(theta, grads, lam, "l3")


def test_deepkkt_stationarity_uses_the_models_own_per_sample_gradients():
    net = _net()
    x, y = _data(4)
    kkt = DeepKKT(net, KKTWeights(w_primal=0.0, w_aug=0.0))
    grads, _ = kkt.flat_grads(x, y)
    lam = torch.tensor([0.5, 1.0, 2.0, 0.25])
    kkt.theta_flat = -(lam @ grads)  # pretend θ* is exactly this combination
    assert float(kkt.kkt_terms(x, y, lam)["stat"]) == pytest.approx(0.0, abs=1e-6)
    assert float(kkt.kkt_terms(x, y, lam * 2)["stat"]) > 1e-4


def test_stationarity_gradient_reaches_the_images():
    net = _net()
    x, y = _data(4)
    x.requires_grad_(True)
    kkt = DeepKKT(net, KKTWeights(w_primal=0.0, w_aug=0.0), distance="l2")
    loss, _ = kkt.objective(x, y, torch.full((4,), 0.3))
    loss.backward()
    assert x.grad.abs().sum() > 0  # double backward through vmap(grad(...))


def test_primal_loss_is_hinge_like():
    logits = torch.tensor([[3.0, 0.0], [0.0, 3.0], [2.0, 0.0]])
    y = torch.tensor([0, 1, 1])
    expected = F.cross_entropy(logits[2:], y[2:]) / 3  # only the misclassified row counts, mean over all
    assert float(primal_loss(logits, y)) == pytest.approx(float(expected))
    assert float(primal_loss(logits[:2], y[:2])) == 0.0


def test_negative_multipliers_are_pruned_for_good():
    lam = Multipliers(torch.tensor([1.0, -0.5, 2.0, -0.1]))
    assert lam.prune() == 2
    assert lam.alive.tolist() == [True, False, True, False]
    assert lam.effective().tolist() == [1.0, 0.0, 2.0, 0.0]
    with torch.no_grad():
        lam.values[1] = 5.0  # a later positive value does not bring it back
    assert lam.effective()[1] == 0.0 and lam.prune() == 0


def test_fit_scale_is_least_squares_for_l2_and_positive():
    theta = torch.tensor([2.0, -2.0, 0.0])
    grads = torch.tensor([[-1.0, 1.0, 0.0], [-1.0, 1.0, 0.0]])  # -c * (sum) = theta at c = 1
    assert fit_scale(theta, grads, "l2") == pytest.approx(1.0, rel=0.05)
    assert fit_scale(theta, -grads, "l2") > 0  # pointing the wrong way: a small positive start


def test_real_multipliers_rank_and_lower_the_stationarity():
    net = _net()
    x, y = _data(30)
    result = real_multipliers(net, x, y, steps=40, lr=0.05, chunk_size=7, progress=False)
    assert result.lam.shape == (30,) and (result.lam >= 0).all()
    assert (result.lam[~result.alive] == 0).all()
    assert result.history["stat"][-1] <= result.history["stat"][0] + 1e-7
    top = top_lambda_per_class(result.lam, y, 2)
    assert len(top) == 6 and torch.bincount(y[top]).tolist() == [2, 2, 2]
    for c in range(3):
        members = (y == c).nonzero().squeeze(1)
        assert result.lam[top[y[top] == c]].min() >= result.lam[members].sort(descending=True).values[1] - 1e-12


def test_random_per_class_is_seeded_and_balanced():
    y = torch.arange(40) % 4
    a, b, c = random_per_class(y, 3, 0), random_per_class(y, 3, 0), random_per_class(y, 3, 1)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert torch.bincount(y[a]).tolist() == [3, 3, 3, 3]


def test_synthesis_keeps_images_valid_and_drops_pruned_candidates():
    net = _net()
    x, y = _data(6)
    kkt = DeepKKT(net, KKTWeights(w_tv=0.1, w_norm=0.01, w_aug=1.0), augment=DiffAugment(["crop", "noise"]))
    result = synthesize(kkt, x, y, steps=3, lr_images=0.05, lr_lambda=0.5, seed=0, progress=False)
    assert result.images.shape[1:] == x.shape[1:] and len(result.images) == int(result.alive.sum())
    assert float(result.images.min()) >= 0.0 and float(result.images.max()) <= 1.0
    assert len(result.history["entropy"]) == 4 and len(result.history["stat"]) == 3
    assert not torch.equal(result.images, x[result.alive])  # the candidates moved


def test_kkt_state_loss_ignores_pruned_candidates():
    net = _net()
    x, y = _data(4)
    state = KKTState(DeepKKT(net, KKTWeights(w_aug=0.0)), x, y, lr_lambda=0.1)
    with torch.no_grad():
        state.lam.values[:] = torch.tensor([1.0, -1.0, -1.0, -1.0])
    state.lam.prune()
    xs = x.clone().requires_grad_(True)
    loss, _ = state.loss(xs)
    loss.backward()
    assert xs.grad[1:].abs().sum() == 0 and xs.grad[0].abs().sum() > 0


def test_deepkkt_works_for_any_classifier():
    torch.manual_seed(0)
    mlp = nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.Tanh(), nn.Linear(16, 3)).eval()
    x, y = _data(5)
    loss, info = DeepKKT(mlp, KKTWeights(w_aug=0.0)).objective(x, y, torch.ones(5))
    assert loss.ndim == 0 and info["stat"] > 0
    grads, _ = per_sample_grads(mlp, x, y)
    assert flatten_grads(grads).shape == (5, sum(p.numel() for p in mlp.parameters()))
