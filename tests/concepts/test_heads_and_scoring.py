"""The heads Bi-ICE is compared with, the validation split, and the baselines its scores are compared with."""

import numpy as np
import pytest
import torch

from revis.concepts.biice import biice_head_parameters, build_concept_classifier
from revis.concepts.data import validation_split
from revis.concepts.scoring import shuffled_patches
from revis.models.patches import PatchMLPClassifier, mlp_head_parameters, mlp_hidden_width

BACKBONE = {"name": "patch_cnn", "width": 16, "depth": 2, "patch": 4}


@pytest.mark.parametrize(("dim", "concepts", "classes"), [(32, 7, 5), (16, 4, 3), (192, 100, 20)])
def test_the_mlp_head_has_the_capacity_of_the_biice_head(dim, concepts, classes):
    target = biice_head_parameters(dim, concepts, classes)
    hidden = mlp_hidden_width(target, dim, classes)
    assert abs(mlp_head_parameters(dim, classes, hidden) - target) <= mlp_head_parameters(dim, classes, hidden + 1) - (
        mlp_head_parameters(dim, classes, hidden)
    )


def test_heads_share_the_backbone_architecture_and_differ_in_the_head():
    models = {v: build_concept_classifier(v, BACKBONE, 3, 5, 16, 7) for v in ("linear", "mlp", "biice")}
    assert isinstance(models["mlp"], PatchMLPClassifier)
    backbone = {v: sum(p.numel() for p in m.features.parameters()) for v, m in models.items()}
    assert len(set(backbone.values())) == 1
    head = sum(p.numel() for p in models["mlp"].classifier.parameters())
    assert abs(head - biice_head_parameters(16, 7, 5)) / biice_head_parameters(16, 7, 5) < 0.05
    x = torch.rand(2, 3, 16, 16)
    assert all(m(x).shape == (2, 5) for m in models.values())
    # the MLP head reads the same mean-pooled features as the linear head
    torch.testing.assert_close(models["mlp"].embed(x), models["mlp"].features(x).mean(1))


def test_validation_split_is_stratified_disjoint_and_seeded():
    labels = np.repeat(np.arange(4), 30)
    fit, validation = validation_split(labels, 0.2, seed=0)
    assert np.bincount(labels[validation]).tolist() == [6, 6, 6, 6]
    assert not set(fit) & set(validation) and len(fit) + len(validation) == len(labels)
    again, other = validation_split(labels, 0.2, seed=0)[1], validation_split(labels, 0.2, seed=1)[1]
    assert np.array_equal(again, validation) and not np.array_equal(other, validation)


def test_shuffled_maps_keep_every_mass_and_lose_the_placement():
    maps = torch.rand(3, 16, 4).softmax(-1)
    shuffled = shuffled_patches(maps, seed=0)
    torch.testing.assert_close(shuffled.sum(1), maps.sum(1))  # each concept's mass per image
    torch.testing.assert_close(shuffled.sum(-1), torch.ones(3, 16))  # each patch still a distribution
    torch.testing.assert_close(shuffled.sort(1).values, maps.sort(1).values)
    assert not torch.equal(shuffled, maps)


def _accuracy_of(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return float((model.eval()(x).argmax(1) == y).float().mean())


def test_early_stopping_keeps_the_best_validation_epoch_and_stops_after_the_patience():
    from revis.concepts.training import train_concept_classifier

    torch.manual_seed(0)
    x, y = torch.rand(48, 3, 16, 16), torch.randint(0, 3, (48,))
    xv, yv = torch.rand(24, 3, 16, 16), torch.randint(0, 3, (24,))  # labels unrelated to the images: noisy accuracy
    model = build_concept_classifier("linear", BACKBONE, 3, 3, 16, 4)
    config = {"epochs": 12, "batch_size": 16, "lr": 0.05, "patience": 2}
    history = train_concept_classifier(model, x, y, config, 0, progress=False, validation=(xv, yv))
    epochs = len(history.loss)
    best = int(np.argmax(history.validation_accuracy)) + 1  # the first of equals
    assert history.best_epoch == best and len(history.validation_accuracy) == epochs
    assert epochs < 12 and epochs - best == 2  # stopped by the patience before the maximum
    assert _accuracy_of(model, xv, yv) == pytest.approx(max(history.validation_accuracy))


def test_without_patience_every_epoch_runs_and_the_last_weights_stay():
    from revis.concepts.training import train_concept_classifier

    x, y = torch.rand(32, 3, 16, 16), torch.randint(0, 3, (32,))
    model = build_concept_classifier("linear", BACKBONE, 3, 3, 16, 4)
    history = train_concept_classifier(
        model, x, y, {"epochs": 4, "batch_size": 16, "lr": 0.05}, 0, progress=False, validation=(x, y)
    )
    assert len(history.loss) == len(history.validation_accuracy) == 4 and history.best_epoch == 0
    assert _accuracy_of(model, x, y) == pytest.approx(history.validation_accuracy[-1])
    with pytest.raises(ValueError, match="patience needs validation"):
        train_concept_classifier(model, x, y, {"epochs": 2, "patience": 1}, 0, progress=False)
