"""CUB-200-2011 (official layout) and CIFAR-100 as concept datasets, read from tiny local folders."""

import pickle
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from revis.datasets.cifar import read_cifar100_concepts
from revis.datasets.cub import read_cub
from revis.datasets.imageset import DataError

N_ATTRIBUTES = 312  # as in the real dataset


def write_tiny_cub(parent: Path, names_next_to_root: bool = True) -> Path:
    """Six birds of three classes in the exact official layout (attributes.txt beside the folder)."""
    root = parent / "CUB_200_2011"
    classes = ["001.Black_footed_Albatross", "002.Laysan_Albatross", "003.Sooty_Albatross"]
    rng = np.random.default_rng(0)
    images, labels, split, boxes, attribute_rows = [], [], [], [], []
    for image_id in range(1, 7):
        c = (image_id - 1) % 3
        name = f"{classes[c]}/{classes[c].split('.')[1]}_{image_id:04d}_{100 + image_id}.jpg"
        path = root / "images" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        pixels = np.zeros((30, 40, 3), np.uint8)
        pixels[5:25, 10:30] = (40 * image_id, 200, 100)  # the "bird", inside its box
        Image.fromarray(pixels).save(path, quality=95)
        images.append(f"{image_id} {name}")
        labels.append(f"{image_id} {c + 1}")
        split.append(f"{image_id} {int(image_id <= 4)}")
        boxes.append(f"{image_id} 10.0 5.0 20.0 20.0")
        for attribute in range(1, N_ATTRIBUTES + 1):
            present = int(attribute == image_id or rng.random() < 0.1)
            attribute_rows.append(f"{image_id} {attribute} {present} {rng.integers(1, 5)} {rng.random() * 10:.3f}")
    attribute_rows[5] += " 0"  # the official file has a few lines with an extra field
    (root / "attributes").mkdir(parents=True)
    (root / "images.txt").write_text("\n".join(images) + "\n")
    (root / "image_class_labels.txt").write_text("\n".join(labels) + "\n")
    (root / "train_test_split.txt").write_text("\n".join(split) + "\n")
    (root / "classes.txt").write_text("\n".join(f"{i} {n}" for i, n in enumerate(classes, start=1)) + "\n")
    (root / "bounding_boxes.txt").write_text("\n".join(boxes) + "\n")
    (root / "attributes" / "image_attribute_labels.txt").write_text("\n".join(attribute_rows) + "\n")
    names = "\n".join(f"{i} has_part_{i}::value_{i}" for i in range(1, N_ATTRIBUTES + 1)) + "\n"
    (parent / "attributes.txt" if names_next_to_root else root / "attributes" / "attributes.txt").write_text(names)
    return root


def test_reads_the_official_cub_layout(tmp_path):
    root = write_tiny_cub(tmp_path)
    train = read_cub(root, "train", image_size=16, progress=False)
    test = read_cub(root, "test", image_size=16, progress=False)
    assert len(train) == 4 and len(test) == 2
    assert train.labels.tolist() == [0, 1, 2, 0] and test.labels.tolist() == [1, 2]
    assert train.class_names[0] == "001.Black_footed_Albatross" and train.images.shape == (4, 16, 16, 3)
    assert train.concept_presence.shape == (4, N_ATTRIBUTES) and len(train.concept_names) == N_ATTRIBUTES
    assert train.concept_names[0] == "has_part_1::value_1"
    assert train.concept_presence[np.arange(4), np.arange(4)].all()  # attribute i is present on bird i
    assert test.concept_presence[0, 4] and test.concept_presence[1, 5]
    # cropped to the box: the bird fills the picture, no black border left
    assert train.images[:, :, :, 1].min() > 150


def test_cub_attribute_names_inside_the_folder_and_without_crop(tmp_path):
    root = write_tiny_cub(tmp_path, names_next_to_root=False)
    data = read_cub(root, "test", image_size=20, crop_to_box=False, progress=False)
    assert data.concept_names[311] == "has_part_312::value_312"
    assert data.images[:, 0, 0].max() < 10  # uncropped: the black border is still there (JPEG: almost 0)


def test_cub_errors_name_the_file(tmp_path):
    root = write_tiny_cub(tmp_path)
    (root / "train_test_split.txt").write_text("1 1\n2\n")
    with pytest.raises(DataError, match=re.escape("train_test_split.txt line 2")):
        read_cub(root, "train", progress=False)
    root = write_tiny_cub(tmp_path / "again")
    (root / "images" / (root / "images.txt").read_text().split()[1]).unlink()
    with pytest.raises(DataError, match="missing image file"):
        read_cub(root, "train", progress=False)
    (root / "classes.txt").unlink()
    with pytest.raises(DataError, match=re.escape("classes.txt")):
        read_cub(root, "test", progress=False)


def write_tiny_cifar100(root: Path, n_train: int = 40, n_test: int = 20) -> Path:
    """The official cifar-100-python layout: 4 superclasses of 2 fine classes each."""
    root.mkdir(parents=True)
    rng = np.random.default_rng(0)
    fine_names = [f"fine{i}".encode() for i in range(8)]
    with open(root / "meta", "wb") as f:
        pickle.dump(
            {b"fine_label_names": fine_names, b"coarse_label_names": [f"super{i}".encode() for i in range(4)]}, f
        )
    for split, n in (("train", n_train), ("test", n_test)):
        fine = rng.integers(0, 8, n)
        rows = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        with open(root / split, "wb") as f:
            pickle.dump({b"data": rows, b"fine_labels": fine.tolist(), b"coarse_labels": (fine // 2).tolist()}, f)
    return root


def test_cifar100_superclasses_with_fine_classes_as_concepts(tmp_path):
    data = read_cifar100_concepts(write_tiny_cifar100(tmp_path / "cifar-100-python"), "train")
    assert data.class_names == ["super0", "super1", "super2", "super3"] and len(data.concept_names) == 8
    assert data.concept_presence.shape == (40, 8) and (data.concept_presence.sum(1) == 1).all()
    fine = data.concept_presence.argmax(1)
    assert (fine // 2 == data.labels).all()


def test_the_biice_pipeline_reads_cub_with_rules_from_attribute_frequencies(tmp_path):
    from revis.concepts.data import load_concept_data
    from revis.pipelines.biice.params import DataParams

    root = write_tiny_cub(tmp_path)
    data = DataParams.model_validate({"dataset": "cub", "root": str(root), "image_size": 16, "rule_min_frequency": 0.5})
    loaded = load_concept_data(None, data.dataset, data.root, data.image_size, data.rule_min_frequency)
    assert loaded.source == "cub" and len(loaded.train) == 4 and len(loaded.test) == 2
    assert 0 in loaded.rules[0] and 3 in loaded.rules[0]  # class 0's two training birds show attributes 1 and 4
