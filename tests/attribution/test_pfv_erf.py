"""PFV extraction by hooks, contribution-weighted sampling, gradient ERFs and their locality."""

import pytest
import torch
from torch import nn

from revis.attribution.erf import concept_erf, concept_erfs, pfv_erf
from revis.attribution.layered import layered
from revis.attribution.pfv import (
    activations_and_contributions,
    layer_activations,
    sample_dataset_pfvs,
    sample_pfvs,
    sampling_weights,
)
from revis.models import ModelConfig, build_model


def net(depth=3, size=32, seed=0):
    torch.manual_seed(seed)
    model = build_model(ModelConfig(name="convnet", width=6, depth=depth, norm="batchnorm"), 3, 5, size)
    return layered(model)


def test_hooks_read_the_same_layers_as_the_staged_network():
    layered_net = net()
    x = torch.rand(5, 3, 32, 32)
    acts = layer_activations(layered_net, x, batch_size=2)
    assert [tuple(a.shape) for a in acts.values()] == [(5, 6, 16, 16), (5, 6, 8, 8), (5, 6, 4, 4)]
    for name, act in acts.items():
        torch.testing.assert_close(act, layered_net.head(name)(x))
    torch.testing.assert_close(layered_net.tail("block1")(acts["block1"]), layered_net.model(x))


def test_resnet50_splits_into_its_four_layers():
    torch.manual_seed(0)
    model = build_model(ModelConfig(name="resnet50"), 3, 4, 32).eval()
    assert model.conv1.kernel_size == (3, 3)  # small images get the 3x3 stem
    layered_net = layered(model)
    x = torch.rand(2, 3, 32, 32)
    acts = layer_activations(layered_net, x)
    assert list(acts) == ["layer1", "layer2", "layer3", "layer4"] and acts["layer4"].shape[1] == 2048
    torch.testing.assert_close(layered_net.tail("layer2")(acts["layer2"]), model(x), rtol=1e-4, atol=1e-5)


def test_contributions_at_the_last_layer_sum_to_the_logit_minus_bias():
    # the head is linear, so gradient x activation summed over positions is exactly logit - bias
    layered_net = net()
    x = torch.rand(4, 3, 32, 32)
    _, contributions, predicted = activations_and_contributions(layered_net, x)
    logits = layered_net.model(x).detach()
    bias = layered_net.model.classifier.bias.detach()[predicted]
    expected = logits.gather(1, predicted[:, None]).squeeze(1) - bias
    torch.testing.assert_close(contributions["block3"].flatten(1).sum(1), expected, rtol=1e-4, atol=1e-5)
    assert all(p.grad is None for p in layered_net.model.parameters())  # parameters untouched


def test_sampling_follows_the_positive_contributions():
    contributions = torch.tensor([[[3.0, 1.0], [-2.0, 0.0]]])
    probs = sampling_weights(contributions, uniform_share=0.0)
    torch.testing.assert_close(probs, torch.tensor([[0.75, 0.25, 0.0, 0.0]]))
    mixed = sampling_weights(contributions, uniform_share=0.2)
    assert mixed.min() > 0 and torch.isclose(mixed.sum(), torch.tensor(1.0))
    assert torch.allclose(sampling_weights(-torch.ones(1, 2, 2), 0.0), torch.full((1, 4), 0.25))  # fallback
    acts = torch.arange(8.0).reshape(1, 2, 2, 2)
    counts = torch.zeros(4)
    generator = torch.Generator().manual_seed(0)
    for _ in range(400):
        _, origin = sample_pfvs(acts, contributions, 1, generator, uniform_share=0.0)
        counts[origin[0, 1] * 2 + origin[0, 2]] += 1
    assert counts[2] == counts[3] == 0 and 0.65 < counts[0] / 400 < 0.85
    pfvs, origin = sample_pfvs(acts, contributions, 2, generator, uniform_share=0.0)
    assert pfvs.tolist() == [acts[0, :, r, c].tolist() for _, r, c in origin.tolist()]


def test_dataset_sampling_covers_every_layer_and_image():
    layered_net = net()
    samples = sample_dataset_pfvs(layered_net, torch.rand(6, 3, 32, 32), per_image=3, seed=0, batch_size=4)
    for name, channels in [("block1", 6), ("block2", 6), ("block3", 6)]:
        assert samples[name]["pfvs"].shape == (18, channels)
        assert sorted(set(samples[name]["origin"][:, 0].tolist())) == list(range(6))


@pytest.mark.parametrize(("layer", "stride", "low", "high"), [("block1", 2, -1, 2), ("block2", 4, -3, 6)])
def test_pfv_erf_stays_inside_the_theoretical_receptive_field(layer, stride, low, high):
    layered_net = net()
    x = torch.rand(3, 3, 32, 32)
    positions = torch.tensor([[3, 4], [5, 2], [1, 6]])
    erf = pfv_erf(layered_net.head(layer), x, positions)
    assert erf.shape == (3, 32, 32)
    for e, (i, j) in zip(erf, positions.tolist()):
        inside = torch.zeros(32, 32, dtype=torch.bool)
        inside[max(stride * i + low, 0) : stride * i + high + 1, max(stride * j + low, 0) : stride * j + high + 1] = (
            True
        )
        assert e[~inside].abs().max() == 0 and e[inside].max() > 0


def test_concept_erf_follows_the_coefficients():
    layered_net = net()
    x = torch.rand(2, 3, 32, 32)
    direction = torch.rand(6)
    coefficients = torch.zeros(2, 16, 16)
    coefficients[:, 2, 3] = 1.0  # the concept sits at one position: its ERF is that PFV's
    erf = concept_erf(layered_net.head("block1"), x, coefficients, direction)
    torch.testing.assert_close(erf, pfv_erf(layered_net.head("block1"), x, torch.tensor([[2, 3], [2, 3]]), direction))
    maps = concept_erfs(
        layered_net.head("block1"),
        x,
        torch.stack([coefficients, torch.zeros(2, 16, 16)], 1),
        torch.stack([direction, direction]),
    )
    assert maps.shape == (2, 2, 32, 32) and maps[:, 1].abs().max() == 0  # an absent concept has no ERF
    assert isinstance(layered_net.model, nn.Module)
