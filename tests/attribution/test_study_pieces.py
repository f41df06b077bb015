"""Pieces the concept-pathway study adds: sub-sampled curves, the random order among present concepts,
built-up targets, batched concept ERFs, alignment on a concept subset."""

import numpy as np
import torch

from revis.attribution.alignment import concept_alignment
from revis.attribution.concepts import ConceptBasis
from revis.attribution.erf import concept_erf, paired_concept_erfs
from revis.attribution.faithfulness import curve_steps, deletion_insertion, normalised_auc, random_active_order
from revis.attribution.layered import layered
from revis.attribution.pathways import built_up_targets, encode_layers
from revis.models import ModelConfig, build_model


def test_sub_sampled_curves_are_the_full_curves_at_their_steps():
    torch.manual_seed(0)
    weights = torch.rand(9)
    forward = lambda x: (x * weights.view(1, 9, 1, 1)).flatten(1).sum(1, keepdim=True)  # noqa: E731
    coefficients = torch.rand(4, 9, 2, 2)
    order = torch.stack([torch.randperm(9) for _ in range(4)])
    full_d, full_i = deletion_insertion(forward, torch.relu(coefficients), torch.eye(9), order, 0)
    steps = curve_steps(9, 4)
    assert steps.tolist() == [0, 3, 6, 9]
    d, i = deletion_insertion(forward, torch.relu(coefficients), torch.eye(9), order, 0, steps=steps)
    torch.testing.assert_close(d, full_d[:, steps])
    torch.testing.assert_close(i, full_i[:, steps])
    assert normalised_auc(d, i, steps / 9) is not None
    assert curve_steps(9, None).tolist() == list(range(10)) and curve_steps(3, 33).tolist() == [0, 1, 2, 3]


def test_random_active_order_lists_present_concepts_first_in_random_order():
    mass = torch.tensor([[0.0, 2.0, 0.0, 1.0, 3.0], [1.0, 0.0, 0.0, 0.0, 0.0]])
    generator = torch.Generator().manual_seed(0)
    orders = [random_active_order(mass, generator) for _ in range(20)]
    for order in orders:
        assert set(order[0, :3].tolist()) == {1, 3, 4} and order[1, 0].item() == 0
    assert len({tuple(o[0, :3].tolist()) for o in orders}) > 1  # the ranking among present concepts varies


def test_built_up_targets_are_sorted_by_their_mean_span():
    torch.manual_seed(0)
    net = layered(build_model(ModelConfig(name="convnet", width=6, depth=2, norm="batchnorm"), 3, 4, 16).eval())
    x = torch.rand(5, 3, 16, 16)
    bases = {
        name: ConceptBasis(np.abs(np.random.default_rng(1).standard_normal((8, 6))), lam=0.01) for name in net.names
    }
    _, codes = encode_layers(net, x, bases)
    targets = built_up_targets(net, "block1", "block2", bases["block1"], bases["block2"], codes["block1"], 5)
    assert len(targets) == 5
    tail = net.tail("block1", "block2")
    with torch.no_grad():
        full = tail(bases["block1"].reconstruct_maps(codes["block1"])).flatten(2).mean(2)
        zero = tail(torch.zeros_like(bases["block1"].reconstruct_maps(codes["block1"]))).flatten(2).mean(2)
    span = ((full - zero) @ bases["block2"].tensor().T).mean(0)
    assert torch.equal(targets, torch.argsort(span, descending=True, stable=True)[:5])


def test_paired_erfs_equal_one_concept_at_a_time():
    torch.manual_seed(0)
    net = layered(build_model(ModelConfig(name="convnet", width=4, depth=2, norm="batchnorm"), 3, 3, 16).eval())
    head = net.head("block1")
    x = torch.rand(3, 3, 16, 16)
    coefficients = torch.rand(3, 5, 8, 8)
    directions = torch.rand(5, 4)
    images, concepts = torch.tensor([0, 2, 1, 2]), torch.tensor([1, 1, 4, 0])
    paired = paired_concept_erfs(head, x, images, coefficients[images, concepts], directions[concepts], batch_size=3)
    for row, (n, q) in enumerate(zip(images.tolist(), concepts.tolist())):
        single = concept_erf(head, x[n : n + 1], coefficients[n : n + 1, q], directions[q])[0]
        torch.testing.assert_close(paired[row], single)


def test_alignment_on_a_concept_subset_finds_the_concept_it_was_built_for():
    # a "network" whose layer is the input itself: concept 0 reads channel 0, drawn where mask 1 is
    n = 8
    masks = torch.zeros(n, 2, 8, 8, dtype=torch.bool)
    masks[:, 0, :4] = True
    masks[:, 1, 4:] = True
    x = torch.zeros(n, 2, 8, 8)
    x[:, 0] = masks[:, 1].float()
    coefficients = torch.zeros(n, 3, 8, 8)
    coefficients[:, 0] = masks[:, 1].float()
    coefficients[:, 2] = 1.0
    directions = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    result = concept_alignment(torch.nn.Identity(), x, coefficients, directions, masks, torch.tensor([0, 1]), 4, 1)
    assert result["match"][0] == 1 and result["iou"][0] == 1.0
    assert result["match"][1] == -1 and result["n_concepts"] == 1  # concept 1 is never active
