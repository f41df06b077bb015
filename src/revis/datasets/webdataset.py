"""WebDataset shards: the tar layout of large image-text corpora (LAION, CC12M via img2dataset).

A shard is a plain tar whose members are ``<key>.<extension>``; the members sharing a key form
one sample (``000017.png`` + ``000017.txt`` + ``000017.json``). Extensions used here:

- ``png`` / ``jpg``: the image (RGB); ``seg.png``: a single-channel label map (uint8)
- ``txt``: the caption (UTF-8); ``json``: any metadata (here, the world's ground truth)

Writing is deterministic (sorted keys, zero mtimes and owners), so the same samples give the
same bytes; reading groups members by key in file order and decodes by extension.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from revis.atomic import atomic_file
from revis.datasets.imageset import DataError


def _encode(extension: str, value: Any) -> bytes:
    if extension.endswith(("png", "jpg", "jpeg")):
        array = np.asarray(value)
        buffer = io.BytesIO()
        Image.fromarray(array).save(buffer, format="PNG" if extension.endswith("png") else "JPEG")
        return buffer.getvalue()
    if extension.endswith("txt"):
        return str(value).encode("utf-8")
    if extension.endswith("json"):
        return json.dumps(value, sort_keys=True).encode("utf-8")
    if isinstance(value, bytes):
        return value
    raise ValueError(f"no encoder for extension {extension!r}")


def _decode(extension: str, data: bytes) -> Any:
    if extension == "seg.png":
        return np.asarray(Image.open(io.BytesIO(data)))
    if extension.endswith(("png", "jpg", "jpeg")):
        return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    if extension.endswith("txt"):
        return data.decode("utf-8")
    if extension.endswith("json"):
        return json.loads(data)
    return data


def write_shard(path: str | os.PathLike, samples: Iterable[dict[str, Any]]) -> None:
    """Write samples (``{"__key__": key, ext: value, ...}``) to one tar shard, atomically."""
    with atomic_file(path) as tmp, tarfile.open(tmp, "w", format=tarfile.USTAR_FORMAT) as tar:
        for sample in samples:
            key = str(sample["__key__"])
            if "." in key or "/" in key:
                raise ValueError(f"sample key {key!r} may not contain '.' or '/'")
            for extension in sorted(k for k in sample if k != "__key__"):
                data = _encode(extension, sample[extension])
                info = tarfile.TarInfo(f"{key}.{extension}")
                info.size, info.mtime, info.mode = len(data), 0, 0o644
                tar.addfile(info, io.BytesIO(data))


def read_shard(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The samples of a tar shard, decoded by extension, in file order."""
    path = Path(path)
    samples: list[dict[str, Any]] = []
    try:
        with tarfile.open(path, "r") as tar:
            for member in tar:
                if not member.isfile():
                    continue
                name = member.name.rsplit("/", 1)[-1]
                key, _, extension = name.partition(".")
                if not extension:
                    raise DataError(f"{path}: member {member.name!r} has no extension (expected <key>.<ext>)")
                if not samples or samples[-1]["__key__"] != key:
                    samples.append({"__key__": key})
                samples[-1][extension] = _decode(extension, tar.extractfile(member).read())  # type: ignore[union-attr]
    except (tarfile.TarError, OSError) as exc:
        raise DataError(f"cannot read WebDataset shard {path}: {exc}") from exc
    return samples
