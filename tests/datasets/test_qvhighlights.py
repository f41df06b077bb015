"""The QVHighlights reader on lines in the release schema, frames, features, and the mini world's folder."""

import json

import numpy as np
import pytest
from PIL import Image

from revis.datasets.imageset import DataError
from revis.datasets.qvhighlights import QvhCorpus, parse_vid, read_jsonl, write_jsonl, write_qvh_folder

# the example line of the QVHighlights data README, and a test-split line without labels
TRAIN_LINE = {
    "qid": 8737,
    "query": "A family is playing basketball together on a green court outside.",
    "duration": 126,
    "vid": "bP5KfdFJzC4_660.0_810.0",
    "relevant_windows": [[0, 16]],
    "relevant_clip_ids": [0, 1, 2, 3, 4, 5, 6, 7],
    "saliency_scores": [[4, 1, 1], [4, 1, 1], [4, 2, 1], [4, 3, 2], [4, 3, 2], [4, 3, 3], [4, 3, 3], [4, 3, 2]],
}
TEST_LINE = {
    "qid": 9769,
    "query": "some military patriots takes us through their safety procedures",
    "duration": 150,
    "vid": "j7rJstUseKg_360.0_510.0",
}


def _write(path, *lines):
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))


def test_reads_the_release_schema(tmp_path):
    _write(tmp_path / "highlight_train_release.jsonl", TRAIN_LINE)
    _write(tmp_path / "highlight_test_release.jsonl", TEST_LINE)
    corpus = QvhCorpus(tmp_path)
    assert corpus.splits == ["train", "test"]
    (query,) = corpus.split("train")
    assert query.num_clips() == 63 and query.relevant_windows == ((0.0, 16.0),)
    saliency = query.saliency()
    assert saliency.shape == (63, 3) and saliency[3].tolist() == [4, 3, 2] and saliency[8:].sum() == 0
    assert query.to_json() == TRAIN_LINE
    (test,) = corpus.split("test")
    assert not test.labelled and test.to_json() == TEST_LINE
    with pytest.raises(DataError, match="carry no saliency labels"):
        corpus.labelled("test")
    assert parse_vid(query.vid) == ("bP5KfdFJzC4", 660.0, 810.0)
    assert parse_vid("a_b-c_d_0.0_150.0") == ("a_b-c_d", 0.0, 150.0)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"qid": "7"}, "'qid' must be an integer"),
        ({"relevant_clip_ids": [0, 1, 2, 3, 4, 5, 6, 99]}, "clip id 99 outside 0..62"),
        ({"saliency_scores": [[5, 1, 1]] * 8}, "integers 0-4"),
        ({"relevant_clip_ids": [0]}, "equal length"),
        ({"relevant_windows": [[0, 200]]}, r"window \[0, 200\] outside"),
        ({"duration": -1}, "must be positive"),
    ],
)
def test_bad_lines_name_file_line_and_key(tmp_path, change, message):
    path = tmp_path / "highlight_val_release.jsonl"
    _write(path, TRAIN_LINE, {**TRAIN_LINE, "qid": 1, **change})
    with pytest.raises(DataError, match=message) as error:
        read_jsonl(path)
    assert f"{path}:2" in str(error.value)


def test_duplicate_qids_and_missing_files_fail(tmp_path):
    path = tmp_path / "highlight_val_release.jsonl"
    _write(path, TRAIN_LINE, TRAIN_LINE)
    with pytest.raises(DataError, match="duplicate qid 8737"):
        read_jsonl(path)
    with pytest.raises(DataError, match="missing QVHighlights annotation file"):
        read_jsonl(tmp_path / "nope.jsonl")


def test_frames_from_arrays_image_folders_and_features(tmp_path):
    vid = TRAIN_LINE["vid"]
    corpus_root = tmp_path
    _write(corpus_root / "highlight_train_release.jsonl", TRAIN_LINE)
    (corpus_root / "frames" / vid).mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(3):  # real frames at 0.5 fps, of another size
        Image.fromarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)).save(
            corpus_root / "frames" / vid / f"{i:05d}.jpg"
        )
    corpus = QvhCorpus(corpus_root)
    assert corpus.frames(vid, image_size=32).shape == (3, 32, 32, 3)
    assert corpus.frames(vid).shape == (3, 48, 64, 3)
    (corpus_root / "features" / "clip_features").mkdir(parents=True)
    np.savez(corpus_root / "features" / "clip_features" / f"{vid}.npz", features=np.ones((63, 512), np.float16))
    assert corpus.features(vid).shape == (63, 512) and corpus.features(vid).dtype == np.float32
    with pytest.raises(DataError, match=r"no frames for video other_0\.0_2\.0"):
        corpus.frames("other_0.0_2.0")
    with pytest.raises(DataError, match="no features for video"):
        corpus.features(vid, kind="slowfast_features")


def test_written_folder_reads_back(tmp_path):
    from revis.datasets.qvhighlights import parse_line

    query = parse_line(TRAIN_LINE)
    frames = {query.vid: np.zeros((63, 8, 8, 3), np.uint8)}
    write_qvh_folder(tmp_path / "world", {"train": [query], "val": []}, frames, {"videos": {}})
    corpus = QvhCorpus(tmp_path / "world")
    assert corpus.split("train") == [query] and corpus.split("val") == []
    assert corpus.frames(query.vid).shape == (63, 8, 8, 3) and corpus.world() == {"videos": {}}
    write_jsonl(tmp_path / "one.jsonl", [query])
    assert read_jsonl(tmp_path / "one.jsonl") == [query]


def test_frames_are_resized_and_centre_cropped_as_clips_processor_does():
    from transformers import CLIPImageProcessor

    from revis.datasets.qvhighlights import resize_centre_crop

    rng = np.random.default_rng(0)
    processor = CLIPImageProcessor(size={"shortest_edge": 24}, crop_size=24, do_rescale=False, do_normalize=False)
    for shape in ((48, 64, 3), (70, 40, 3)):
        frame = rng.integers(0, 255, shape, dtype=np.uint8)
        ours = resize_centre_crop(frame, 24)
        theirs = processor(images=frame, return_tensors="np")["pixel_values"][0].transpose(1, 2, 0)
        assert ours.shape == (24, 24, 3)
        # the same pixels up to rounding of the bicubic resample
        assert np.abs(ours.astype(float) - theirs).max() <= 1.0
    # a wide frame keeps its aspect ratio: the centre survives, the sides are cut (a squash would mix them)
    wide = np.zeros((20, 60, 3), np.uint8)
    wide[:, 20:40] = 255
    assert resize_centre_crop(wide, 20).min() == 255


def test_frames_decode_only_the_clips_asked_for_and_clamp_beyond_the_last(tmp_path, monkeypatch):
    vid = TRAIN_LINE["vid"]
    _write(tmp_path / "highlight_train_release.jsonl", TRAIN_LINE)
    (tmp_path / "frames" / vid).mkdir(parents=True)
    stored = [np.full((8, 8, 3), 40 * i, np.uint8) for i in range(3)]
    for i, frame in enumerate(stored):
        Image.fromarray(frame).save(tmp_path / "frames" / vid / f"{i:05d}.png")
    corpus = QvhCorpus(tmp_path)
    opened = []
    real_open = Image.open
    monkeypatch.setattr(Image, "open", lambda path, *a, **k: opened.append(path) or real_open(path, *a, **k))
    picked = corpus.frames(vid, indices=[2, 5])
    assert len(opened) == 2  # two frames decoded, not all three
    assert picked[0].tolist() == stored[2].tolist() and picked[1].tolist() == stored[2].tolist()
    assert corpus.frame_count(vid) == 3
