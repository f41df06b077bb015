"""Real text-video benchmarks: annotation readers and pre-extracted embeddings from a local path.

- **MSR-VTT 1k-A** (CLIP4Clip layout): ``MSRVTT_JSFUSION_test.csv`` (``key,vid_key,video_id,sentence``,
  one query per test video) or ``MSRVTT_data.json`` (``{"videos": [...], "sentences": [{"caption",
  "video_id", "sen_id"}]}``; the first caption per video of the given videos).
- **MSVD** (CLIP4Clip layout): a folder with ``raw-captions.pkl`` (``{vid: [[tokens], ...]}``) and
  ``test_list.txt`` (one video id per line); the first caption per test video.
- **ActivityNet Captions**: ``val_1.json`` (``{vid: {"duration", "timestamps", "sentences"}}``);
  paragraph retrieval as in CLIP4Clip (the video's sentences joined).
- **Embeddings** (MERLIN's layout, ``data/<dataset>/``): ``video_embeddings/<vid>.npy`` and
  ``text_embeddings/<vid>.npy`` (the embedded query of that video), any dimension (MERLIN: 1408).

Every error names the file (and line) that is wrong.
"""

from __future__ import annotations

import csv
import json
import os
import pickle
from pathlib import Path

import numpy as np
import torch

from revis.datasets.imageset import DataError
from revis.retrieval.bundles import RealFeatures


def read_msrvtt(path: str | os.PathLike) -> list[tuple[str, str]]:
    """``[(video_id, sentence)]`` of MSR-VTT 1k-A (csv) or of MSRVTT_data.json (first caption per video)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"missing MSR-VTT annotation file {path}")
    if path.suffix == ".csv":
        with path.open(newline="") as handle:
            reader = csv.DictReader(handle)
            if not reader.fieldnames or not {"video_id", "sentence"} <= set(reader.fieldnames):
                raise DataError(f"{path}: expected the columns key,vid_key,video_id,sentence, got {reader.fieldnames}")
            return [(row["video_id"], row["sentence"]) for row in reader]
    try:
        data = json.loads(path.read_text())
        sentences = data["sentences"]
    except (ValueError, KeyError, TypeError) as exc:
        raise DataError(f"{path}: not an MSRVTT_data.json ({exc})") from None
    first: dict[str, str] = {}
    for item in sentences:
        first.setdefault(item["video_id"], item["caption"])
    return list(first.items())


def read_msvd(folder: str | os.PathLike) -> list[tuple[str, str]]:
    """``[(video_id, first caption)]`` of the MSVD test videos (CLIP4Clip's raw-captions.pkl + test_list.txt)."""
    folder = Path(folder)
    captions_file, test_file = folder / "raw-captions.pkl", folder / "test_list.txt"
    for needed in (captions_file, test_file):
        if not needed.is_file():
            raise DataError(f"missing MSVD file {needed}")
    with captions_file.open("rb") as handle:
        captions = pickle.load(handle)  # the release's own format (a local file of the user's)
    out = []
    for line_no, vid in enumerate(test_file.read_text().split(), start=1):
        if vid not in captions or not captions[vid]:
            raise DataError(f"{test_file}:{line_no}: video {vid} has no caption in {captions_file.name}")
        out.append((vid, " ".join(captions[vid][0])))
    return out


def read_activitynet(path: str | os.PathLike) -> list[tuple[str, str]]:
    """``[(video_id, paragraph)]`` of an ActivityNet Captions file (val_1.json)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise DataError(f"missing ActivityNet Captions file {path}") from None
    except ValueError as exc:
        raise DataError(f"{path}: not JSON ({exc})") from None
    out = []
    for vid, entry in data.items():
        if not isinstance(entry, dict) or "sentences" not in entry or "timestamps" not in entry:
            raise DataError(f"{path}: video {vid} lacks 'sentences' or 'timestamps'")
        if len(entry["sentences"]) != len(entry["timestamps"]):
            raise DataError(
                f"{path}: video {vid} has {len(entry['sentences'])} sentences for {len(entry['timestamps'])} timestamps"
            )
        out.append((vid, " ".join(s.strip() for s in entry["sentences"])))
    return out


def read_msrvtt_merlin(
    ids_file: str | os.PathLike, annotation_files: list[str | os.PathLike], limit: int | None = 500
) -> list[tuple[str, str]]:
    """MERLIN's MSR-VTT subset (``utils/data_utils.prepare_msrvtt_data``): ``[(video_id, caption)]``.

    The ids of ``msrvtt_1ka`` in the file's order, the first ``limit`` (MERLIN: 500); each video's
    caption is the *last* of its sentences in ``annotation_files`` read in order (MERLIN: the
    train_val then the test ``videodatainfo.json``; a later sentence overwrites an earlier one).
    """
    ids_path = Path(ids_file)
    if not ids_path.is_file():
        raise DataError(f"missing MSR-VTT id list {ids_path} (MERLIN's msrvtt_1ka)")
    ids = [line.strip() for line in ids_path.read_text().splitlines() if line.strip()][:limit]
    last: dict[str, str] = {}
    for annotation in annotation_files:
        path = Path(annotation)
        try:
            sentences = json.loads(path.read_text())["sentences"]
        except FileNotFoundError:
            raise DataError(f"missing MSR-VTT annotation file {path}") from None
        except (ValueError, KeyError, TypeError) as exc:
            raise DataError(f"{path}: not an MSR-VTT videodatainfo json with 'sentences' ({exc})") from None
        for item in sentences:
            last[item["video_id"]] = item["caption"]
    missing = [vid for vid in ids if vid not in last]
    if missing:
        raise DataError(f"{len(missing)} videos of {ids_path} have no caption in the annotations (e.g. {missing[:5]})")
    return [(vid, last[vid]) for vid in ids]


READERS = {"msrvtt": read_msrvtt, "msvd": read_msvd, "anet": read_activitynet}


def load_embeddings(root: str | os.PathLike, vids: list[str], kind: str) -> np.ndarray:
    """(N, D) ``<root>/<kind>_embeddings/<vid>.npy`` rows (a (1, D) or (D,) array per file)."""
    folder = Path(root) / f"{kind}_embeddings"
    rows = []
    for vid in vids:
        file = folder / f"{vid}.npy"
        if not file.is_file():
            raise DataError(f"missing {kind} embedding {file}")
        rows.append(np.load(file).reshape(-1))
    if len({r.size for r in rows}) > 1:
        raise DataError(f"{folder}: embeddings of different sizes {sorted({r.size for r in rows})}")
    return np.stack(rows).astype(np.float32)


def load_benchmark(
    dataset: str, annotations: str | None, embeddings: str | None, limit: int | None = None
) -> RealFeatures:
    """Queries (one per video) and gallery embeddings of a real benchmark, as the features stage stores them."""
    if not annotations or not embeddings:
        raise DataError(f"merlin.features.real needs both annotations and embeddings paths for {dataset}")
    pairs = READERS[dataset](annotations)[:limit]
    vids = [v for v, _ in pairs]
    return {
        "kind": "real",
        "dataset": dataset,
        "seeds": [0],
        "vids": vids,
        "captions": [s for _, s in pairs],
        "targets": list(range(len(vids))),
        "query_z": torch.from_numpy(load_embeddings(embeddings, vids, "text")),
        "gallery": torch.from_numpy(load_embeddings(embeddings, vids, "video")),
    }
