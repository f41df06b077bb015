"""The cheap evaluation protocol must rank sets as a longer one does (small-size version of the README study)."""

import pytest
import torch

from revis.distill.agreement import concordance, rank_agreement
from revis.distill.config import EvalProtocol


def test_concordance_counts_pairs_ordered_alike():
    assert concordance([1, 2, 3], [10, 20, 30]) == 1.0
    assert concordance([1, 2, 3], [30, 20, 10]) == 0.0
    assert concordance([1, 2, 3], [1, 3, 2]) == pytest.approx(2 / 3)
    assert concordance([1, 1], [1, 2]) == 0.5
    with pytest.raises(ValueError):
        concordance([1], [1])


@pytest.mark.slow  # ~85 s of CPU: six small networks on real digits
def test_short_and_long_protocols_rank_noise_and_real_digit_sets_alike():
    from revis.datasets.digits import sklearn_digits

    digits = sklearn_digits(0.3, 0)
    x, y = digits["train"].tensors()
    test = tuple(t[:200] for t in digits["test"].tensors())
    generator = torch.Generator().manual_seed(0)

    def per_class(k):
        index = torch.cat([(y == c).nonzero().squeeze(1)[:k] for c in range(10)])
        return x[index], y[index]

    noise = torch.randn(10, *x.shape[1:], generator=generator), torch.arange(10)
    sets = {"noise_1": noise, "real_1": per_class(1), "real_10": per_class(10)}
    model = {"name": "convnet", "width": 8, "depth": 3, "norm": "instancenorm", "grey_stem_padding": 3}
    ops = ["crop", "scale", "rotate"]  # the digits DSA ops without color and cutout (fewer epochs to learn)
    short = EvalProtocol(model=model, epochs=10, batch_size=10, lr=0.03, augment=ops)
    long = EvalProtocol(model=model, epochs=40, batch_size=10, lr=0.01, augment=ops)
    result = rank_agreement(sets, {"short": short, "long": long}, test, (1, 10, 8), seed=0)
    accuracy = result["accuracy"]["long"]
    assert accuracy["noise_1"] < accuracy["real_1"] < accuracy["real_10"], result
    assert result["agreement"]["short~long"]["concordance"] == 1.0, result
