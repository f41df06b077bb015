from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from revis.datasets.voc import VocObject, VocRecord
from revis.detection.roi_features import YOLOV8_LAYERS, box_features, letterbox, representative_vectors


class FakeNet(nn.Module):
    """Stands in for a DetectionModel: ``model[i]`` layers run in sequence; layer 0 is a stride-4 average."""

    def __init__(self) -> None:
        super().__init__()
        self.model = nn.Sequential(nn.AvgPool2d(4), nn.Identity())  # as ultralytics builds it

    def forward(self, x):
        for layer in self.model:
            x = layer(x)
        return x


def test_letterbox_scales_the_long_side_and_centres():
    image = np.zeros((40, 80, 3), dtype=np.uint8)
    image[:, :40] = 255
    tensor, scale, (left, top) = letterbox(image, 64)
    assert tensor.shape == (3, 64, 64) and scale == 0.8 and (left, top) == (0.0, 16.0)
    assert torch.allclose(tensor[:, 16 + 5, 5], torch.ones(3)) and torch.allclose(
        tensor[:, 2, 5], torch.full((3,), 114 / 255)
    )


def test_roi_features_read_the_box_region_of_the_chosen_map():
    images = torch.zeros(2, 3, 32, 32)
    images[:, :, :, 16:] = 0.8  # right half bright
    boxes = [torch.tensor([[18.0, 4.0, 30.0, 28.0], [0.0, 0.0, 12.0, 12.0]]), torch.tensor([[20.0, 20.0, 32.0, 32.0]])]
    feats = box_features(FakeNet(), images, boxes, layer=0, roi_size=3)
    assert [f.shape for f in feats] == [(2, 3), (1, 3)]
    assert torch.allclose(feats[0][0], torch.full((3,), 0.8), atol=1e-5)  # inside the bright half
    assert torch.allclose(feats[0][1], torch.zeros(3), atol=1e-5)
    assert torch.allclose(feats[1][0], torch.full((3,), 0.8), atol=1e-5)


def test_representative_vectors_average_boxes_per_image_and_class(tmp_path):
    from PIL import Image

    pixels = np.zeros((32, 32, 3), dtype=np.uint8)
    pixels[:, 16:] = 200
    pixels[:16, :16] = 100
    Image.fromarray(pixels).save(tmp_path / "a.png")
    Image.fromarray(pixels).save(tmp_path / "b.png")
    records = [
        VocRecord(
            "a",
            tmp_path / "a.png",
            32,
            32,
            [
                VocObject("x", (16.0, 0.0, 32.0, 16.0)),  # 200
                VocObject("x", (0.0, 0.0, 16.0, 16.0)),  # 100
                VocObject("y", (16.0, 16.0, 32.0, 32.0)),  # 200
                VocObject("y", (0.0, 16.0, 16.0, 32.0), difficult=True),
            ],
        ),
        VocRecord("b", tmp_path / "b.png", 32, 32, []),
    ]
    pool = representative_vectors(FakeNet(), records, ["x", "y", "z"], imgsz=32, layer=0, roi_size=2)
    assert pool.image_ids == ["a", "b"] and pool.image_index.tolist() == [0, 0] and pool.class_index.tolist() == [0, 1]
    assert pool.box_counts.tolist() == [2, 1]  # the difficult box is not used
    assert torch.allclose(pool.vectors[0], torch.full((3,), 150 / 255), atol=1e-4)  # mean of the two x boxes
    assert torch.allclose(pool.vectors[1], torch.full((3,), 200 / 255), atol=1e-4)


@pytest.fixture(scope="module")
def yolov8n():
    from revis.detection.ultralytics_env import import_ultralytics

    import_ultralytics(Path(__file__).parents[2] / "data" / "ultralytics")
    from ultralytics.nn.tasks import DetectionModel

    torch.manual_seed(0)
    return DetectionModel(cfg="yolov8n.yaml", nc=5, verbose=False).eval()


@pytest.mark.parametrize(
    ("layer", "channels"),
    [("neck_p3", 64), ("neck_p4", 128), ("neck_p5", 256), ("backbone_p3", 64), ("backbone_p5", 256)],
)
def test_roialign_on_yolov8n_maps_gives_one_vector_per_box(yolov8n, layer, channels):
    assert YOLOV8_LAYERS[layer] < len(yolov8n.model) - 1  # never the Detect head
    images = torch.rand(2, 3, 64, 64)
    boxes = [torch.tensor([[4.0, 4.0, 30.0, 40.0], [10.0, 10.0, 60.0, 20.0]]), torch.zeros(0, 4)]
    feats = box_features(yolov8n, images, boxes, layer)
    assert feats[0].shape == (2, channels) and feats[1].shape == (0, channels)
    assert torch.isfinite(feats[0]).all() and not torch.equal(feats[0][0], feats[0][1])
