"""The Bi-ICE head: shapes, normalisations, exact contributions, binding convergence, losses, training."""

import pytest
import torch

from revis.concepts import (
    BiICEClassifier,
    BiICEHead,
    ConceptBinding,
    attention_entropy,
    explanation_loss,
    patch_coverage,
    train_concept_classifier,
)
from revis.concepts.biice import build_concept_classifier, explain_batches
from revis.models import build_model
from revis.world.shapes import generate_shapes


def _head(heads: int = 1, seed: int = 0) -> BiICEHead:
    torch.manual_seed(seed)
    return BiICEHead(dim=16, num_concepts=5, num_classes=4, iterations=3, heads=heads).eval()


@pytest.mark.parametrize("heads", [1, 4])
def test_contributions_sum_to_the_logits_and_match_the_plain_computation(heads):
    head = _head(heads)
    patches = torch.randn(3, 12, 16)
    with torch.no_grad():
        out = head(patches)
        # the plain reading of the paper: per-patch logits W_o (A v(S)), averaged over patches
        attention, values = head.broadcast(patches, out.slots)
        mixed = (attention @ values).transpose(1, 2).reshape(3, 12, 16)  # concatenate heads
        plain = head.logit.out(mixed)
    assert torch.allclose(out.contributions.sum(-1), out.logits, atol=1e-5)
    assert torch.allclose(plain.mean(1), out.logits, atol=1e-5)
    assert torch.allclose(plain, out.patch_logits, atol=1e-5)
    assert out.contributions.abs().sum() > 0  # not trivially zero


def test_broadcast_maps_are_distributions_over_concepts_and_averaged_over_heads():
    head = _head(heads=2)
    with torch.no_grad():
        out = head(torch.randn(2, 9, 16))
    assert out.attention.shape == (2, 9, 5) and out.head_attention.shape == (2, 2, 9, 5)
    assert torch.allclose(out.attention.sum(-1), torch.ones(2, 9), atol=1e-5)
    assert torch.allclose(out.head_attention.mean(1), out.attention)
    assert (out.attention >= 0).all()


def test_binding_attention_competes_over_concepts_then_averages_over_inputs():
    torch.manual_seed(0)
    binding = ConceptBinding(8, 3, iterations=1)
    slots, keys = torch.randn(2, 3, 8), torch.randn(2, 6, 8)
    attention = binding.binding_attention(slots, keys)
    assert torch.allclose(attention.sum(-1), torch.ones(2, 3), atol=1e-5)  # weighted mean over inputs
    # undoing the renormalisation over inputs must give a softmax over concepts (columns sum to 1)
    logits = binding.to_q(binding.norm_slots(slots)) @ keys.transpose(1, 2) * binding.scale
    over_concepts = logits.softmax(dim=1)
    ratio = attention / over_concepts  # constant per slot row: the row's renormaliser
    assert torch.allclose(ratio, ratio[..., :1].expand_as(ratio), rtol=1e-3)
    assert torch.allclose(over_concepts.sum(1), torch.ones(2, 6), atol=1e-5)


@pytest.mark.parametrize("seed", range(5))
def test_binding_converges_on_a_toy_input(seed):
    """Patches from three tight clusters: the slot updates shrink iteration after iteration."""
    torch.manual_seed(seed)
    binding = ConceptBinding(16, 3, iterations=10).eval()
    centres = torch.randn(3, 16) * 3
    patches = centres[torch.randint(0, 3, (4, 30))] + 0.1 * torch.randn(4, 30, 16)
    with torch.no_grad():
        slots, steps, _ = binding(patches)
    mean = steps.mean(0)
    assert steps.shape == (4, 10) and slots.shape == (4, 3, 16)
    assert mean[-1] < 0.3 * mean[0]
    assert mean[5:].mean() < mean[:5].mean()


@pytest.mark.parametrize(("name", "size", "patch"), [("patch_cnn", 32, 4), ("tiny_vit", 32, 4), ("tiny_vit", 16, 8)])
def test_bi_ice_on_both_backbones_has_the_documented_shapes(name, size, patch):
    torch.manual_seed(0)
    model = build_concept_classifier("biice", {"name": name, "width": 16, "depth": 2, "patch": patch}, 3, 5, size, 7)
    grid = size // patch
    assert isinstance(model, BiICEClassifier) and model.grid == grid
    out = model.explain(torch.rand(2, 3, size, size))
    assert out.logits.shape == (2, 5) and out.attention.shape == (2, grid * grid, 7)
    assert out.contributions.shape == (2, 5, 7) and out.patch_logits.shape == (2, grid * grid, 5)
    assert out.binding_steps.shape == (2, 3) and out.binding_attention.shape == (2, 7, grid * grid)
    linear = build_concept_classifier("linear", {"name": name, "width": 16, "depth": 2, "patch": patch}, 3, 5, size, 7)
    assert linear(torch.rand(2, 3, size, size)).shape == (2, 5)
    batched = explain_batches(model, torch.rand(5, 3, size, size), iterations=6, batch_size=2)
    assert batched["binding_steps"].shape == (5, 6) and batched["attention"].shape == (5, grid * grid, 7)


def test_bi_ice_refuses_a_backbone_without_patches():
    with pytest.raises(ValueError, match="patch backbone"):
        build_concept_classifier("biice", {"name": "convnet", "width": 8, "depth": 2}, 3, 5, 32, 7)
    with pytest.raises(ValueError, match="patch"):
        build_model({"name": "tiny_vit", "patch": 5}, 3, 5, 32)


def test_patch_coverage_is_the_area_fraction_per_patch():
    masks = torch.zeros(1, 2, 8, 8, dtype=torch.bool)
    masks[0, 0, :4, :4] = True  # exactly the top-left patch of a 2 x 2 grid
    masks[0, 1, 4:, 4:6] = True  # half of the bottom-right patch
    coverage = patch_coverage(masks, 2)
    assert coverage.shape == (1, 4, 2)
    assert coverage[0, :, 0].tolist() == [1.0, 0.0, 0.0, 0.0] and coverage[0, :, 1].tolist() == [0.0, 0.0, 0.0, 0.5]


def test_explanation_loss_is_zero_at_the_normalised_target_and_handles_background():
    coverage = torch.tensor([[[1.0, 1.0, 0.0], [0.0, 0.5, 0.0], [0.0, 0.0, 0.0]]])  # (1, L=3, K=3)
    target = torch.tensor([[[0.5, 0.5, 0.0], [0.0, 1.0, 0.0], [0.2, 0.3, 0.5]]])
    assert float(explanation_loss(target, coverage)) == pytest.approx(0.0)  # the background patch is left out
    assert float(explanation_loss(target, coverage, background=True)) > 0  # ... unless it must be "no concept"
    assert float(explanation_loss(target.roll(1, -1), coverage)) > 0
    presence = torch.tensor([[1.0, 0.0, 1.0]])
    uniform_pair = torch.tensor([[[0.5, 0.0, 0.5]] * 3])
    assert float(explanation_loss(uniform_pair, presence=presence)) == pytest.approx(0.0)
    with pytest.raises(ValueError):
        explanation_loss(target)


def test_entropy_of_uniform_and_one_hot_maps():
    uniform = torch.full((2, 3, 4), 0.25)
    one_hot = torch.nn.functional.one_hot(torch.tensor([[0, 1, 2]]), 4).float()
    assert float(attention_entropy(uniform)) == pytest.approx(float(torch.log(torch.tensor(4.0))), rel=1e-5)
    assert float(attention_entropy(one_hot)) == pytest.approx(0.0, abs=1e-6)


def _tiny_shapes():
    data = generate_shapes(96, seed=3)
    x, y = data.tensors()
    return x, y, torch.from_numpy(data.concept_masks)


def _train(seed: int, expl: float):
    x, y, masks = _tiny_shapes()
    torch.manual_seed(seed)
    model = build_concept_classifier("biice", {"name": "patch_cnn", "width": 8, "depth": 2, "patch": 4}, 3, 5, 32, 7)
    config = {
        "epochs": 3,
        "batch_size": 32,
        "lr": 3e-3,
        "expl_weight": expl,
        "sparsity_weight": 0.1,
        "expl_background": True,
    }
    return model, train_concept_classifier(model, x, y, config, seed, masks=masks, progress=False)


@pytest.mark.integration  # trains two heads for tens of seconds
def test_training_with_concept_supervision_reduces_the_explanation_loss_and_tracks_slot_drift():
    (model, history), (again, _) = _train(0, 5.0), _train(0, 5.0)
    assert all(torch.equal(p, q) for p, q in zip(model.state_dict().values(), again.state_dict().values()))
    assert history.expl_loss[-1] < history.expl_loss[0] and history.loss[-1] < history.loss[0]
    assert len(history.slot_drift) == len(history.bound_drift) == 3 and min(history.slot_drift) > 0
    _, unsupervised = _train(0, 0.0)
    assert unsupervised.expl_loss == [0.0, 0.0, 0.0]


def test_supervision_needs_ground_truth():
    x, y, _ = _tiny_shapes()
    model = build_concept_classifier("biice", {"name": "patch_cnn", "width": 8, "depth": 2, "patch": 4}, 3, 5, 32, 7)
    with pytest.raises(ValueError, match="masks or concept presence"):
        train_concept_classifier(model, x, y, {"epochs": 1, "expl_weight": 1.0}, 0, progress=False)


@pytest.mark.gpu
def test_trains_and_explains_on_cuda():
    from revis.concepts.deletion import deletion_curves

    x, y, masks = _tiny_shapes()
    torch.manual_seed(0)
    model = build_concept_classifier("biice", {"name": "tiny_vit", "width": 16, "depth": 1, "patch": 4}, 3, 5, 32, 7)
    history = train_concept_classifier(
        model, x, y, {"epochs": 2, "batch_size": 32, "expl_weight": 5.0}, 0, masks=masks, device="cuda", progress=False
    )
    assert len(history.slot_drift) == 2 and next(model.parameters()).device.type == "cpu"
    out = explain_batches(model, x[:10], device="cuda")
    assert out["logits"].device.type == "cpu"
    assert torch.allclose(out["contributions"].sum(-1), out["logits"], atol=1e-4)
    order = out["attention"].sum(-1).argsort(1)
    curves = deletion_curves(model.cuda(), x[:10], out["logits"].argmax(1), order, 8, steps=4, device="cuda")
    assert curves.shape == (10, 5) and curves.device.type == "cpu"
