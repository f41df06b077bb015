import pickle
import re

import numpy as np
import pytest

from revis.datasets.cifar import read_cifar10, read_cifar100, read_world_rules, write_cifar10
from revis.datasets.digits import sklearn_digits
from revis.datasets.imageset import DataError, ImageSet, load_imagesets_npz, save_imagesets_npz
from revis.world.shapes import generate_shapes, world_rules


def test_shapes_roundtrip_through_the_cifar10_layout(tmp_path):
    train, test = generate_shapes(30, seed=0), generate_shapes(12, seed=1)
    write_cifar10(tmp_path / "shapes", train, test, batch_size=16, world=world_rules())
    assert sorted(p.name for p in (tmp_path / "shapes").iterdir()) == [
        "batches.meta",
        "concepts.npz",
        "data_batch_1",
        "data_batch_2",
        "test_batch",
        "world.json",
    ]
    back = read_cifar10(tmp_path / "shapes", "train")
    assert np.array_equal(back.images, train.images) and np.array_equal(back.labels, train.labels)
    assert np.array_equal(back.concept_masks, train.concept_masks) and back.concept_names == train.concept_names
    assert read_world_rules(tmp_path / "shapes")["classes"]["red_circle"] == ["red", "circle"]


def test_reads_official_cifar10_batches(tmp_path):
    # the official format: bytes keys, channel-major rows, labels as a list
    root = tmp_path / "cifar-10-batches-py"
    root.mkdir()
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
    rows = images.transpose(0, 3, 1, 2).reshape(4, -1)
    with open(root / "batches.meta", "wb") as f:
        pickle.dump({b"label_names": [b"airplane", b"automobile"], b"num_cases_per_batch": 4}, f)
    for name in ["data_batch_1", "test_batch"]:
        with open(root / name, "wb") as f:
            pickle.dump({b"batch_label": b"x", b"labels": [0, 1, 1, 0], b"data": rows, b"filenames": [b"a"] * 4}, f)
    data = read_cifar10(root, "train")
    assert np.array_equal(data.images, images) and data.class_names == ["airplane", "automobile"]


def test_reads_official_cifar100(tmp_path):
    root = tmp_path / "cifar-100-python"
    root.mkdir()
    rows = np.zeros((3, 3072), dtype=np.uint8)
    with open(root / "meta", "wb") as f:
        pickle.dump({b"fine_label_names": [b"apple", b"bee"], b"coarse_label_names": [b"fruit", b"insects"]}, f)
    with open(root / "train", "wb") as f:
        pickle.dump({b"data": rows, b"fine_labels": [0, 1, 1], b"coarse_labels": [0, 1, 1]}, f)
    coarse = read_cifar100(root, "train", label="coarse")
    assert coarse.class_names == ["fruit", "insects"] and coarse.labels.tolist() == [0, 1, 1]


def test_corrupt_batch_names_the_file(tmp_path):
    root = tmp_path / "c"
    root.mkdir()
    (root / "batches.meta").write_bytes(b"not a pickle at all")
    with pytest.raises(DataError, match=re.escape("batches.meta")):
        read_cifar10(root, "train")


def test_npz_roundtrip_and_corruption(tmp_path):
    splits = sklearn_digits(0.3, seed=0)
    save_imagesets_npz(tmp_path / "digits.npz", splits)
    back = load_imagesets_npz(tmp_path / "digits.npz")
    assert np.array_equal(back["test"].images, splits["test"].images) and back["train"].class_names[3] == "3"
    (tmp_path / "bad.npz").write_bytes(b"garbage")
    with pytest.raises(DataError, match=re.escape("bad.npz")):
        load_imagesets_npz(tmp_path / "bad.npz")


def test_digits_are_real_and_stratified():
    splits = sklearn_digits(0.3, seed=0)
    assert len(splits["train"]) + len(splits["test"]) == 1797
    assert np.bincount(splits["test"].labels).min() >= 50
    assert splits["train"].images.shape[1:] == (8, 8, 1)


def test_imageset_tensors_are_unit_range():
    data = ImageSet(images=np.full((2, 4, 4, 3), 255, np.uint8), labels=np.array([0, 1]), class_names=["a", "b"])
    x, y = data.tensors()
    assert x.shape == (2, 3, 4, 4) and float(x.max()) == 1.0 and y.dtype.is_floating_point is False


def test_a_truncated_npz_names_the_file(tmp_path):
    import numpy as np

    from revis.datasets.imageset import DataError, ImageSet, load_imagesets_npz, save_imagesets_npz

    path = tmp_path / "digits.npz"
    images = np.zeros((4, 1, 8, 8), dtype=np.uint8)
    save_imagesets_npz(path, {"train": ImageSet(images=images, labels=np.arange(4), class_names=list("abcd"))})
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    with pytest.raises(DataError, match=r"digits\.npz"):
        load_imagesets_npz(path)


def test_a_truncated_concepts_sidecar_names_the_file(tmp_path):
    from revis.datasets.cifar import CONCEPT_SIDECAR, read_cifar10, write_cifar10
    from revis.datasets.imageset import DataError
    from revis.world.shapes import generate_shapes

    train, test = generate_shapes(12, seed=1), generate_shapes(6, seed=2)
    write_cifar10(tmp_path / "shapes", train, test)
    sidecar = tmp_path / "shapes" / CONCEPT_SIDECAR
    sidecar.write_bytes(sidecar.read_bytes()[:100])
    with pytest.raises(DataError, match=r"concepts\.npz"):
        read_cifar10(tmp_path / "shapes", "train")
