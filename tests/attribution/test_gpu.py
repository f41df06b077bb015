"""The attribution code on a CUDA device agrees with the CPU (skipped without CUDA)."""

import pytest
import torch
from captum.attr import IntegratedGradients

from revis.attribution.concepts import ConceptBasis
from revis.attribution.erf import concept_erfs
from revis.attribution.layered import layered
from revis.attribution.pathways import class_gig, encode_layers, inter_layer_faithfulness, pair_gig
from revis.models import ModelConfig, build_model

pytestmark = pytest.mark.gpu


def test_cuda_matches_cpu_and_captum():
    torch.manual_seed(0)
    model = build_model(ModelConfig(name="convnet", width=8, depth=3, norm="batchnorm"), 3, 5, 32).eval()
    x = torch.rand(6, 3, 32, 32)
    bases = {name: ConceptBasis(torch.rand(8, 8).numpy(), lam=0.05) for name in ("block1", "block2", "block3")}
    results = {}
    for device in ("cpu", "cuda"):
        net = layered(model)
        net.model.to(device)
        xd = x.to(device)
        from revis.attribution.gig import GeneralizedIntegratedGradients

        ig = IntegratedGradients(net.model).attribute(xd, target=1, n_steps=8, method="riemann_right")
        torch.testing.assert_close(GeneralizedIntegratedGradients(net.model).attribute(xd, 1, n_steps=8), ig)
        _, codes = encode_layers(net, xd, bases)
        classes = net.model(xd).argmax(1)
        pair = pair_gig(
            net,
            "block1",
            "block2",
            bases["block1"],
            bases["block2"],
            codes["block1"],
            torch.arange(4, device=device),
            8,
            "riemann_right",
        )
        faith = inter_layer_faithfulness(
            net, "block1", "block2", bases["block1"], bases["block2"], codes["block1"], pair, 2, seed=0
        )
        results[device] = {
            "pair": pair["gig"].cpu(),
            "class": class_gig(net, "block2", bases["block2"], codes["block2"], classes, 8, "riemann_right")[
                "gig"
            ].cpu(),
            "erf": concept_erfs(net.head("block1"), xd, codes["block1"], bases["block1"].tensor(xd)).cpu(),
            "faith": faith["summary"],
        }
    for key in ("pair", "class", "erf"):
        torch.testing.assert_close(results["cuda"][key], results["cpu"][key], rtol=1e-3, atol=1e-4)
    assert results["cuda"]["faith"].keys() == results["cpu"]["faith"].keys()
