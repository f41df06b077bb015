"""The ImageNet-format (torchvision ImageFolder) reader on a tiny local folder."""

import re

import numpy as np
import pytest
from PIL import Image

from revis.datasets.imagefolder import index_image_folder, read_image_folder
from revis.datasets.imageset import DataError


@pytest.fixture
def folder(tmp_path):
    """root/<wnid>/<file> like ImageNet-val sorted into class folders, mixed sizes and formats."""
    rng = np.random.default_rng(0)
    for wnid, count in (("n01440764", 3), ("n01443537", 5)):
        (tmp_path / wnid).mkdir()
        for i in range(count):
            pixels = np.full((48 + 8 * i, 64, 3), (40 * i, 100, 200 if wnid.endswith("7") else 20), dtype=np.uint8)
            pixels[:, :8] = rng.integers(0, 255, (pixels.shape[0], 8, 3))
            Image.fromarray(pixels).save(tmp_path / wnid / f"ILSVRC2012_val_{i:08d}.{'JPEG' if i % 2 else 'png'}")
    (tmp_path / "n01443537" / "notes.txt").write_text("not an image; ImageFolder skips it")
    return tmp_path


def test_reads_classes_sorted_and_images_cropped(folder):
    data = read_image_folder(folder, image_size=32)
    assert data.class_names == ["n01440764", "n01443537"]
    assert data.images.shape == (8, 32, 32, 3) and data.images.dtype == np.uint8
    assert np.bincount(data.labels).tolist() == [3, 5]
    # a centre crop keeps the image's centre colour (the noisy stripe at the left edge is cut)
    assert abs(int(data.images[0, 16, 16, 1]) - 100) <= 3


def test_per_class_caps_and_is_seeded(folder):
    a, b = read_image_folder(folder, 16, per_class=2, seed=3), read_image_folder(folder, 16, per_class=2, seed=3)
    assert np.bincount(a.labels).tolist() == [2, 2]
    assert np.array_equal(a.images, b.images)


def test_errors_name_the_folder_or_file(folder, tmp_path_factory):
    with pytest.raises(DataError, match="does not exist"):
        read_image_folder(folder / "missing", 16)
    empty = tmp_path_factory.mktemp("empty")
    with pytest.raises(DataError, match=str(empty)):
        index_image_folder(empty)
    broken = folder / "n01440764" / "broken.JPEG"
    broken.write_bytes(b"not a jpeg")
    with pytest.raises(DataError, match=re.escape("broken.JPEG")):
        read_image_folder(folder, 16)
