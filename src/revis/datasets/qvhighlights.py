"""QVHighlights: the annotation files, frames and pre-extracted features, from a local folder.

The same reader opens the real release and the mini world's videos (``revis.world.videos``):

```
<root>/
  highlight_{train,val,test}_release.jsonl   one query per line (the official schema, below)
  videos/<vid>.npy                           frames, uint8 (clips, H, W, 3), one per 2-s clip  [mini world]
  frames/<vid>/*.jpg|png                     frames extracted at 0.5 fps, sorted by name         [real data]
  features/<kind>/<vid>.npz                  pre-extracted clip features, key "features"         [real data]
  world.json                                 the mini world's ground truth (captions, clips)     [mini world]
```

A line: ``qid`` (int), ``query`` (str), ``vid`` (``{youtube_id}_{start}_{end}``), ``duration``
(seconds), and in train/val ``relevant_windows`` ([[start, end], ...] seconds),
``relevant_clip_ids`` (indices of 2-s clips) and ``saliency_scores`` (three annotators' 0-4 scores
per relevant clip). The official test file carries no labels. ``features/clip_features/<vid>.npz``
is the layout of moment_detr's released CLIP features (``np.load(...)["features"]``).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from revis.atomic import atomic_directory, write_text_atomic
from revis.datasets.imageset import DataError

SPLITS = ("train", "val", "test")
CLIP_LENGTH = 2.0
LABEL_KEYS = ("relevant_windows", "relevant_clip_ids", "saliency_scores")
KEY_ORDER = ("qid", "query", "duration", "vid", *LABEL_KEYS)
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


class SubmissionError(ValueError):
    """Predictions or ground truth that the evaluation cannot score; the message names the query."""


def field_of(record: Any, name: str) -> Any:
    """``record[name]`` of a decoded line, or the attribute of a ``QvhQuery``."""
    return record[name] if isinstance(record, Mapping) else getattr(record, name)


def num_clips(duration: float, clip_length: float = 2.0) -> int:
    """Clips of a video as the official script counts them: ``int(duration / clip_length)``."""
    return int(duration / clip_length)


def saliency_matrix(record: Any, clip_length: float = 2.0) -> np.ndarray:
    """(clips x annotators) float matrix of 0-4 scores, zeros outside the relevant clips."""
    qid = field_of(record, "qid")
    clips = num_clips(float(field_of(record, "duration")), clip_length)
    ids = list(field_of(record, "relevant_clip_ids") or [])
    scores = list(field_of(record, "saliency_scores") or [])
    if len(ids) != len(scores):
        raise SubmissionError(f"qid {qid}: {len(ids)} relevant_clip_ids but {len(scores)} saliency_scores")
    widths = {len(s) for s in scores}
    if len(widths) > 1:
        raise SubmissionError(f"qid {qid}: saliency_scores rows have different annotator counts {sorted(widths)}")
    annotators = widths.pop() if widths else 3
    matrix = np.zeros((clips, annotators))
    for clip, row in zip(ids, scores):
        if not 0 <= int(clip) < clips:
            raise SubmissionError(
                f"qid {qid}: relevant clip id {clip} outside the video's {clips} clips "
                f"(duration {field_of(record, 'duration')} s, {clip_length}-s clips)"
            )
        matrix[int(clip)] = row
    return matrix


@dataclass(frozen=True)
class QvhQuery:
    """One annotation line. Labels are None in the official test split."""

    qid: int
    query: str
    vid: str
    duration: float
    relevant_windows: tuple[tuple[float, float], ...] | None = None
    relevant_clip_ids: tuple[int, ...] | None = None
    saliency_scores: tuple[tuple[int, ...], ...] | None = None

    @property
    def labelled(self) -> bool:
        return self.saliency_scores is not None

    def num_clips(self, clip_length: float = CLIP_LENGTH) -> int:
        """Clips as the official evaluation counts them: ``int(duration / clip_length)``."""
        return int(self.duration / clip_length)

    def saliency(self, clip_length: float = CLIP_LENGTH) -> np.ndarray:
        """(clips, annotators) 0-4 scores, zeros outside the relevant clips."""
        if not self.labelled:
            raise DataError(f"qid {self.qid} has no saliency labels (a test-split line)")
        return saliency_matrix(self, clip_length)

    def to_json(self) -> dict[str, Any]:
        """The line as the release writes it (labels only when present)."""
        line: dict[str, Any] = {"qid": self.qid, "query": self.query, "duration": self.duration, "vid": self.vid}
        if self.labelled:
            line["relevant_windows"] = [list(w) for w in self.relevant_windows or ()]
            line["relevant_clip_ids"] = list(self.relevant_clip_ids or ())
            line["saliency_scores"] = [list(s) for s in self.saliency_scores or ()]
        return line


def _number(value: Any, where: str, key: str) -> float:
    """A finite JSON number (Python's json reads NaN and Infinity, which the release never holds)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise DataError(f"{where}: '{key}' must be a number, got {value!r}")
    if not math.isfinite(value):
        raise DataError(f"{where}: '{key}' must be a finite number, got {value!r}")
    return value


def _check_identity(line: Any, where: str) -> None:
    """A JSON object with an integer ``qid``, string ``query`` and ``vid``, and a ``duration``."""
    if not isinstance(line, dict):
        raise DataError(f"{where}: expected a JSON object, got {type(line).__name__}")
    for key in ("qid", "query", "vid", "duration"):
        if key not in line:
            raise DataError(f"{where}: missing '{key}'")
    if isinstance(line["qid"], bool) or not isinstance(line["qid"], int):
        raise DataError(f"{where}: 'qid' must be an integer, got {line['qid']!r}")
    if not isinstance(line["query"], str) or not isinstance(line["vid"], str):
        raise DataError(f"{where}: 'query' and 'vid' must be strings")


def _window(window: Any, where: str) -> tuple[float, float]:
    if not isinstance(window, list) or len(window) != 2:
        raise DataError(f"{where}: 'relevant_windows' must be a list of [start, end]")
    return float(_number(window[0], where, "relevant_windows")), float(_number(window[1], where, "relevant_windows"))


def _check_clips_and_scores(ids: Any, scores: Any, duration: float, where: str) -> None:
    """Clip ids inside the video, one row of 0-4 integer scores per id, the same annotators in every row."""
    if not isinstance(ids, list) or not isinstance(scores, list) or len(ids) != len(scores):
        raise DataError(f"{where}: 'relevant_clip_ids' and 'saliency_scores' must be lists of equal length")
    clips = int(duration / CLIP_LENGTH)
    for clip in ids:
        if isinstance(clip, bool) or not isinstance(clip, int) or not 0 <= clip < max(clips, 1):
            raise DataError(f"{where}: relevant clip id {clip!r} outside 0..{clips - 1} (duration {duration} s)")
    for row in scores:
        if (
            not isinstance(row, list)
            or not row
            or any(isinstance(s, bool) or not isinstance(s, int) or not 0 <= s <= 4 for s in row)
        ):
            raise DataError(f"{where}: 'saliency_scores' rows must be lists of integers 0-4, got {row!r}")
    widths = {len(row) for row in scores}
    if len(widths) > 1:
        raise DataError(f"{where}: 'saliency_scores' rows have different annotator counts {sorted(widths)}")


def parse_line(line: dict[str, Any], where: str = "line") -> QvhQuery:
    """Validate one decoded line; errors name ``where`` (file:line) and the key."""
    _check_identity(line, where)
    where = f"{where} (qid {line['qid']})"
    duration = _number(line["duration"], where, "duration")
    if duration <= 0:
        raise DataError(f"{where}: 'duration' must be positive, got {duration}")
    present = [k for k in LABEL_KEYS if k in line]
    if present and len(present) != len(LABEL_KEYS) and present != ["relevant_windows"]:
        raise DataError(f"{where}: labels must come together, found only {present}")
    if "saliency_scores" not in line:
        windows = tuple(_window(w, where) for w in line.get("relevant_windows") or [])
        return QvhQuery(line["qid"], line["query"], line["vid"], duration, windows or None)
    windows = line["relevant_windows"]
    if not isinstance(windows, list) or any(not isinstance(w, list) or len(w) != 2 for w in windows):
        raise DataError(f"{where}: 'relevant_windows' must be a list of [start, end]")
    ids, scores = line["relevant_clip_ids"], line["saliency_scores"]
    _check_clips_and_scores(ids, scores, duration, where)
    for start, end in windows:
        _number(start, where, "relevant_windows")
        _number(end, where, "relevant_windows")
        if not 0 <= start <= end <= duration:
            raise DataError(f"{where}: window [{start}, {end}] outside the video (duration {duration} s)")
    return QvhQuery(
        qid=line["qid"],
        query=line["query"],
        vid=line["vid"],
        duration=duration,
        relevant_windows=tuple((float(s), float(e)) for s, e in windows),
        relevant_clip_ids=tuple(ids),
        saliency_scores=tuple(tuple(row) for row in scores),
    )


def read_jsonl(path: str | os.PathLike) -> list[QvhQuery]:
    """Every line of a highlight_*_release.jsonl file; a bad line raises ``DataError`` naming file and line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(f"missing QVHighlights annotation file {path}") from None
    queries, seen = [], set()
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        where = f"{path}:{number}"
        try:
            decoded = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise DataError(f"{where}: not JSON ({exc.msg})") from None
        query = parse_line(decoded, where)
        if query.qid in seen:
            raise DataError(f"{where}: duplicate qid {query.qid}")
        seen.add(query.qid)
        queries.append(query)
    return queries


def write_jsonl(path: str | os.PathLike, queries: Iterable[QvhQuery]) -> None:
    """Write lines in the release's key order (atomically)."""
    lines = [json.dumps(q.to_json()) for q in queries]
    write_text_atomic(Path(path), "\n".join(lines) + ("\n" if lines else ""))


def parse_vid(vid: str) -> tuple[str, float, float]:
    """``{youtube_id}_{start}_{end}`` -> (youtube_id, start, end); youtube ids may hold underscores."""
    try:
        name, start, end = vid.rsplit("_", 2)
        return name, float(start), float(end)
    except ValueError:
        raise DataError(f"video id {vid!r} is not of the form {{name}}_{{start}}_{{end}}") from None


def release_file(root: str | os.PathLike, split: str) -> Path:
    return Path(root) / f"highlight_{split}_release.jsonl"


def resize_centre_crop(frame: np.ndarray, size: int) -> np.ndarray:
    """CLIP's processor on one uint8 (H, W, 3) frame: shorter side to ``size`` (bicubic), then a centre crop.

    As ``CLIPImageProcessor`` (``shortest_edge=size``, ``crop_size=size``): the aspect ratio is kept,
    the longer side is cut evenly on both ends instead of the picture being squashed.
    """
    from PIL import Image

    height, width = frame.shape[:2]
    if (height, width) == (size, size):
        return np.asarray(frame)
    # transformers' get_resize_output_image_size: the longer side is int(size * long / short)
    if height <= width:
        new_h, new_w = size, int(size * width / height)
    else:
        new_h, new_w = int(size * height / width), size
    resized = np.asarray(Image.fromarray(np.asarray(frame)).resize((new_w, new_h), Image.Resampling.BICUBIC))
    top, left = (new_h - size) // 2, (new_w - size) // 2
    return resized[top : top + size, left : left + size]


def _resize(frames: list[np.ndarray], size: int | None) -> np.ndarray:
    if size is None:
        shapes = {f.shape for f in frames}
        if len(shapes) > 1:
            raise DataError(f"frames differ in size {sorted(shapes)}; pass image_size to resize them")
        return np.stack(frames)
    return np.stack([resize_centre_crop(f, size) for f in frames])


def clamp_indices(indices: Sequence[int] | np.ndarray | None, available: int, vid: str) -> np.ndarray:
    """Frame positions for clip ``indices``: a clip beyond the video's last frame reads the last frame.

    (The evaluation counts ``int(duration / 2)`` clips; real videos may hold a frame fewer. Scoring
    repeats the last frame's score there, and training must read the same frame, never the next video's.)
    """
    if available <= 0:
        raise DataError(f"video {vid} has no frames")
    if indices is None:
        return np.arange(available)
    positions = np.asarray(indices, dtype=np.int64)
    if positions.ndim != 1 or (positions < 0).any():
        raise ValueError(f"frame indices of video {vid} must be a flat list of non-negative ints")
    return np.minimum(positions, available - 1)


class VideoCorpus(Protocol):
    """What a pipeline reads: a ``QvhCorpus`` on disk, or the generated ``revis.world.videos.VideoWorld``."""

    clip_length: float

    @property
    def splits(self) -> list[str]: ...

    def split(self, name: str) -> list[QvhQuery]: ...

    def labelled(self, name: str) -> list[QvhQuery]: ...

    def video_ids(self, name: str) -> list[str]: ...

    def frames(self, vid: str, image_size: int | None = None, indices: Sequence[int] | None = None) -> np.ndarray: ...

    def world(self) -> dict[str, Any] | None: ...


class QvhCorpus:
    """A QVHighlights-layout folder: annotation splits, frames and features of each video, read lazily."""

    def __init__(self, root: str | os.PathLike, clip_length: float = CLIP_LENGTH) -> None:
        self.root = Path(root)
        self.clip_length = clip_length
        if not self.root.is_dir():
            raise DataError(f"QVHighlights folder {self.root} does not exist")
        self._splits: dict[str, list[QvhQuery]] = {}
        self._world: dict[str, Any] | None = None

    def __repr__(self) -> str:
        return f"QvhCorpus({str(self.root)!r})"

    @property
    def splits(self) -> list[str]:
        return [s for s in SPLITS if release_file(self.root, s).is_file()]

    def split(self, name: str) -> list[QvhQuery]:
        """The queries of ``highlight_<name>_release.jsonl``."""
        if name not in self._splits:
            self._splits[name] = read_jsonl(release_file(self.root, name))
        return self._splits[name]

    def labelled(self, name: str) -> list[QvhQuery]:
        """The split's queries, failing clearly when the split carries no labels (the official test)."""
        queries = self.split(name)
        unlabelled = [q.qid for q in queries if not q.labelled]
        if unlabelled:
            raise DataError(
                f"{release_file(self.root, name)}: {len(unlabelled)} queries carry no saliency labels "
                f"(e.g. qid {unlabelled[0]}); the official test split is scored on the leaderboard server"
            )
        return queries

    def video_ids(self, name: str) -> list[str]:
        """Distinct videos of a split, in order of first appearance."""
        return list(dict.fromkeys(q.vid for q in self.split(name)))

    def frame_source(self, vid: str) -> Path:
        array = self.root / "videos" / f"{vid}.npy"
        if array.is_file():
            return array
        folder = self.root / "frames" / vid
        if folder.is_dir():
            return folder
        raise DataError(f"no frames for video {vid}: expected {array} or a folder {folder} of images")

    def frames(self, vid: str, image_size: int | None = None, indices: Sequence[int] | None = None) -> np.ndarray:
        """uint8 (clips, H, W, 3): ``videos/<vid>.npy`` or the sorted images of ``frames/<vid>/``.

        ``image_size``: resize (shorter side) and centre-crop as CLIP's processor does. ``indices``:
        only these clips' frames are read and decoded (clamped to the last frame, see ``clamp_indices``).
        """
        source = self.frame_source(vid)
        if source.suffix == ".npy":
            try:
                # memory-mapped: a caller that indexes a few clips reads only those from disk
                array = np.load(source, allow_pickle=False, mmap_mode="r")
            except (OSError, ValueError) as exc:
                raise DataError(f"cannot read frames {source}: {exc}") from exc
            if array.ndim != 4 or array.shape[-1] != 3 or array.dtype != np.uint8:
                raise DataError(f"{source}: frames must be uint8 (clips, H, W, 3), got {array.dtype} {array.shape}")
            if indices is not None:
                array = np.asarray(array[clamp_indices(indices, len(array), vid)])
            if image_size is None or array.shape[1:3] == (image_size, image_size):
                return array
            return _resize([np.asarray(frame) for frame in array], image_size)
        from PIL import Image

        files = sorted(p for p in source.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise DataError(f"frame folder {source} holds no .jpg/.png images")
        frames = []
        for position in clamp_indices(indices, len(files), vid):  # decode only the frames asked for
            file = files[int(position)]
            try:
                with Image.open(file) as image:
                    frames.append(np.asarray(image.convert("RGB")))
            except OSError as exc:
                raise DataError(f"cannot read frame {file}: {exc}") from exc
        return _resize(frames, image_size)

    def frame_count(self, vid: str) -> int:
        """Frames stored for ``vid`` (without decoding them)."""
        source = self.frame_source(vid)
        if source.suffix == ".npy":
            return int(np.load(source, allow_pickle=False, mmap_mode="r").shape[0])
        return sum(1 for p in source.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)

    def features(self, vid: str, kind: str = "clip_features") -> np.ndarray:
        """Pre-extracted float features (clips, D) from ``features/<kind>/<vid>.npz`` (key "features") or ``.npy``."""
        folder = self.root / "features" / kind
        for path in (folder / f"{vid}.npz", folder / f"{vid}.npy"):
            if path.is_file():
                try:
                    loaded = np.load(path, allow_pickle=False)
                    array = loaded["features"] if path.suffix == ".npz" else loaded
                except (OSError, ValueError, KeyError) as exc:
                    raise DataError(f"cannot read features {path}: {exc}") from exc
                return np.asarray(array, dtype=np.float32)
        raise DataError(f"no features for video {vid} under {folder} (<vid>.npz with key 'features', or <vid>.npy)")

    def world(self) -> dict[str, Any] | None:
        """The mini world's ground truth (``world.json``), or None for real data."""
        if self._world is None:
            path = self.root / "world.json"
            if not path.is_file():
                return None
            self._world = json.loads(path.read_text())
        return self._world


def open_corpus(default: VideoCorpus, root: str | os.PathLike | None) -> VideoCorpus:
    """``root`` (a local QVHighlights folder) when given, else ``default`` (the mini world)."""
    return QvhCorpus(root) if root else default


def write_qvh_folder(
    root: str | os.PathLike,
    splits: dict[str, Sequence[QvhQuery]],
    frames: dict[str, np.ndarray],
    world: dict[str, Any] | None = None,
) -> None:
    """Write a QVHighlights folder (annotation files, ``videos/<vid>.npy``, optional ``world.json``) atomically."""
    with atomic_directory(root) as tmp:
        (tmp / "videos").mkdir()
        for split, queries in splits.items():
            lines = [json.dumps(q.to_json()) for q in queries]
            release_file(tmp, split).write_text("\n".join(lines) + ("\n" if lines else ""))
        for vid, array in frames.items():
            if array.dtype != np.uint8 or array.ndim != 4:
                raise ValueError(f"frames of {vid} must be uint8 (clips, H, W, 3), got {array.dtype} {array.shape}")
            np.save(tmp / "videos" / f"{vid}.npy", array, allow_pickle=False)
        if world is not None:
            (tmp / "world.json").write_text(json.dumps(world, indent=1, sort_keys=True) + "\n")


def check_frames_match(corpus: QvhCorpus, queries: Sequence[QvhQuery], frames: dict[str, np.ndarray]) -> None:
    """Every query's video has at least as many frames as the evaluation counts clips."""
    for q in queries:
        have = len(frames[q.vid])
        if have < q.num_clips(corpus.clip_length):
            raise DataError(f"video {q.vid} has {have} frames but qid {q.qid} counts {q.num_clips()} clips")
