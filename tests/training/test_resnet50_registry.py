"""ResNet-50 in the model registry: built from scratch, or from a local weights file (never downloaded)."""

import pytest
import torch
from torch import nn

from revis.datasets.imageset import DataError
from revis.models import ModelConfig, build_model
from revis.models.registry import load_weights


def test_resnet50_weights_come_from_a_local_file(tmp_path):
    torch.manual_seed(1)
    source = build_model(ModelConfig(name="resnet50"), 3, 10, 224)
    assert source.conv1.kernel_size == (7, 7) and source.fc.out_features == 10  # the ImageNet stem at 224 px
    path = tmp_path / "resnet50.pth"
    torch.save(source.state_dict(), path)  # torchvision's published weights are a plain state dict
    loaded = build_model(ModelConfig(name="resnet50", weights=str(path)), 3, 10, 224)
    for (name, a), b in zip(source.state_dict().items(), loaded.state_dict().values()):
        assert torch.equal(a, b), name


def test_weight_file_errors_name_the_file(tmp_path):
    with pytest.raises(DataError, match=r"missing weights file .*nowhere\.pth"):
        load_weights(nn.Linear(2, 2), str(tmp_path / "nowhere.pth"))
    path = tmp_path / "other.pth"
    torch.save(nn.Linear(3, 2).state_dict(), path)
    with pytest.raises(DataError, match=r"other\.pth does not fit the model"):
        load_weights(nn.Linear(2, 2), str(path))
    (tmp_path / "junk.pth").write_bytes(b"junk")
    with pytest.raises(DataError, match=r"cannot read weights file .*junk\.pth"):
        load_weights(nn.Linear(2, 2), str(tmp_path / "junk.pth"))
    checkpoint = tmp_path / "revis.pt"
    torch.save({"model": nn.Linear(2, 2).state_dict(), "epoch": 3}, checkpoint)  # a revis checkpoint works too
    load_weights(nn.Linear(2, 2), str(checkpoint))
