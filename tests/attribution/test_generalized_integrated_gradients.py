"""GIG: the Captum peer check, completeness, the concept-space algebra, batching."""

import pytest
import torch
from captum.attr import IntegratedGradients
from torch import nn

from revis.attribution.benchmark import run_benchmark
from revis.attribution.gig import ConceptProjection, GeneralizedIntegratedGradients
from revis.attribution.layered import layered
from revis.models import ModelConfig, build_model


def small_net(norm="batchnorm", width=6, seed=0):
    torch.manual_seed(seed)
    net = build_model(ModelConfig(name="convnet", width=width, depth=2, norm=norm), 3, 5, 16)
    if norm == "batchnorm":  # non-trivial running statistics, as after training
        for module in net.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.uniform_(-0.2, 0.2)
                module.running_var.uniform_(0.5, 2.0)
    return net.eval()


@pytest.mark.parametrize("method", ["riemann_right", "riemann_left", "riemann_middle", "riemann_trapezoid"])
def test_identity_decomposition_at_the_input_equals_captum_ig(method):
    net = small_net()
    x = torch.rand(5, 3, 16, 16)
    target = torch.tensor([0, 1, 2, 3, 4])
    expected, expected_delta = IntegratedGradients(net).attribute(
        x, target=target, n_steps=12, method=method, return_convergence_delta=True
    )
    got, delta = GeneralizedIntegratedGradients(net).attribute(
        x, target=target, n_steps=12, method=method, return_convergence_delta=True
    )
    assert got.shape == x.shape
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(delta, expected_delta.to(delta.dtype), rtol=1e-4, atol=1e-5)


def test_int_target_and_internal_batches_match_captum():
    net = small_net(norm="none")
    x = torch.rand(4, 3, 16, 16)
    expected = IntegratedGradients(net).attribute(
        x, target=3, n_steps=10, method="riemann_right", internal_batch_size=8
    )
    got = GeneralizedIntegratedGradients(net).attribute(x, target=3, n_steps=10, internal_batch_size=8)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)


def test_linear_network_gig_is_exact_and_matches_the_closed_form():
    # F(X) = <W, X> is linear: every Riemann sum is exact and GIG_pq = u_pq <W_p, v_q>
    weight = torch.randn(4, 5, 5)
    forward = lambda x: (x * weight).flatten(1).sum(1, keepdim=True)  # noqa: E731
    concepts = torch.rand(3, 4)
    u = torch.rand(2, 3, 5, 5)
    attributions, delta = GeneralizedIntegratedGradients(forward, concepts).attribute(
        u, target=0, n_steps=2, return_convergence_delta=True
    )
    closed_form = u * torch.einsum("chw,kc->khw", weight, concepts)[None]
    torch.testing.assert_close(attributions, closed_form, rtol=1e-5, atol=1e-6)
    assert delta.abs().max() < 1e-4


def test_completeness_gap_shrinks_with_steps_on_a_small_network():
    net = layered(small_net(width=8))
    torch.manual_seed(1)
    concepts = torch.rand(5, 8)
    u = torch.rand(6, 5, 8, 8) * (torch.rand(6, 5, 8, 8) > 0.6)
    classes = torch.tensor([0, 1, 2, 3, 4, 0])
    gig = GeneralizedIntegratedGradients(net.tail("block1"), concepts)
    gaps = [gig.attribute_targets(u, classes, n_steps=m).relative_gap() for m in (2, 8, 32, 128)]
    assert gaps[-1] < 0.02
    assert gaps[-1] < gaps[1] < gaps[0]
    # what the gap measures: sum of attributions against the change of the target
    result = gig.attribute_targets(u, classes, n_steps=128)
    torch.testing.assert_close(result.scores.sum(2), result.full - result.zero, rtol=0.05, atol=0.02)


def test_several_targets_in_one_batched_backward_equal_one_at_a_time():
    net = layered(small_net(width=8))
    concepts, directions = torch.rand(4, 8), torch.rand(3, 8)
    u = torch.rand(3, 4, 8, 8)
    gig = GeneralizedIntegratedGradients(net.tail("block1", "block2"), concepts)
    together = gig.attribute_targets(u, ConceptProjection(directions), n_steps=6)
    assert together.scores.shape == (3, 3, 4)
    for t in range(3):
        single, delta = gig.attribute(u, ConceptProjection(directions[t]), n_steps=6, return_convergence_delta=True)
        torch.testing.assert_close(single.flatten(2).sum(2), together.scores[:, t], rtol=1e-4, atol=1e-6)
        torch.testing.assert_close(delta, together.delta[:, t], rtol=1e-4, atol=1e-5)
    split = gig.attribute_targets(u, ConceptProjection(directions), n_steps=6, internal_batch_size=5)
    torch.testing.assert_close(split.scores, together.scores, rtol=1e-4, atol=1e-6)


def test_gradient_baselines_are_the_one_point_terms():
    net = layered(small_net(width=8))
    concepts = torch.rand(4, 8)
    u = torch.rand(2, 4, 8, 8)
    gig = GeneralizedIntegratedGradients(net.tail("block1"), concepts)
    base = gig.gradient_scores(u, 2)
    # gradient x input equals a one-step right Riemann sum of GIG
    one_step = gig.path_gradients(u, 2, [1.0], [1.0])[0] * u
    torch.testing.assert_close(base["gradient_x_input"][:, 0], one_step.flatten(2).sum(2))
    assert not torch.allclose(base["gradient"], base["gradient_x_input"])


def test_benchmark_reports_agreement_and_a_ratio():
    result = run_benchmark(images=4, steps=4, repeats=1, width=4)
    assert result.max_abs_difference <= 1e-5 * max(result.max_abs_attribution, 1.0)
    assert result.ratio > 0 and result.gig_seconds > 0 and result.captum_seconds > 0
