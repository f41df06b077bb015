"""Readers refuse bad records naming the file and the record: CIFAR labels outside the label names, an
image/label count mismatch, QVHighlights non-finite durations and boolean saliency scores."""

import json
import pickle

import numpy as np
import pytest

from revis.datasets.cifar import read_cifar10, read_cifar100
from revis.datasets.imageset import DataError
from revis.datasets.qvhighlights import read_jsonl


def _cifar10(root, labels, images=4):
    root.mkdir()
    rows = np.zeros((images, 3072), dtype=np.uint8)
    with open(root / "batches.meta", "wb") as f:
        pickle.dump({b"label_names": [b"airplane", b"automobile", b"bird"]}, f)
    with open(root / "data_batch_1", "wb") as f:
        pickle.dump({b"batch_label": b"x", b"labels": labels, b"data": rows}, f)
    return root


@pytest.mark.parametrize(
    ("labels", "words"), [([0, 1, 99, 2], "'labels'[2] = 99"), ([-1, 0, 1, 2], "'labels'[0] = -1")]
)
def test_cifar10_labels_outside_the_label_names_are_refused_naming_file_and_index(tmp_path, labels, words):
    root = _cifar10(tmp_path / "cifar", labels)
    with pytest.raises(DataError) as error:
        read_cifar10(root, "train")
    message = str(error.value)
    assert str(root / "data_batch_1") in message and words in message and "outside 0..2" in message


def test_cifar10_image_and_label_counts_must_match_naming_the_file(tmp_path):
    root = _cifar10(tmp_path / "cifar", [0, 1, 2], images=4)
    with pytest.raises(DataError, match="holds 4 images but 3 'labels'") as error:
        read_cifar10(root, "train")
    assert str(root / "data_batch_1") in str(error.value)


def test_cifar100_fine_labels_are_checked_against_their_names(tmp_path):
    root = tmp_path / "cifar-100-python"
    root.mkdir()
    with open(root / "meta", "wb") as f:
        pickle.dump({b"fine_label_names": [b"apple", b"bee"], b"coarse_label_names": [b"fruit", b"insects"]}, f)
    with open(root / "train", "wb") as f:
        pickle.dump({b"data": np.zeros((3, 3072), np.uint8), b"fine_labels": [0, 1, 2], b"coarse_labels": [0, 1, 1]}, f)
    assert read_cifar100(root, "train", label="coarse").labels.tolist() == [0, 1, 1]
    with pytest.raises(DataError, match=r"'fine_labels'\[2\] = 2 is outside 0..1") as error:
        read_cifar100(root, "train", label="fine")
    assert str(root / "train") in str(error.value)


LINE = {"qid": 5, "query": "q", "duration": 10, "vid": "v_0.0_10.0"}
LABELS = {"relevant_windows": [[0, 4]], "relevant_clip_ids": [0, 1], "saliency_scores": [[4, 1], [2, 2]]}


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ('{"qid": 5, "query": "q", "duration": NaN, "vid": "v_0.0_10.0"}', "'duration' must be a finite number"),
        ('{"qid": 5, "query": "q", "duration": Infinity, "vid": "v_0.0_10.0"}', "'duration' must be a finite number"),
        (json.dumps({**LINE, **LABELS, "saliency_scores": [[True, 1], [2, 2]]}), "integers 0-4"),
        (
            json.dumps({**LINE, **LABELS, "relevant_windows": [[0, float("nan")]]}),
            "'relevant_windows' must be a finite",
        ),
    ],
)
def test_qvhighlights_non_finite_numbers_and_boolean_scores_name_file_line_and_qid(tmp_path, raw, words):
    path = tmp_path / "highlight_val_release.jsonl"
    path.write_text(json.dumps({**LINE, "qid": 1}) + "\n" + raw + "\n")
    with pytest.raises(DataError) as error:
        read_jsonl(path)
    message = str(error.value)
    assert f"{path}:2 (qid 5)" in message and words in message
