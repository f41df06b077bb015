"""Fingerprints of the data at a ``DataPath`` parameter, so DVC reruns a stage when the data changes.

DVC tracks a parameter's *value*; a dataset folder given by path changes without its path
changing. The ``check-params`` stage writes one small JSON per DataPath parameter: the path
and a digest of its listing (relative path, size, modification time of every file, as
``make`` and ``rsync`` decide what changed). The stages that read the parameter depend on
that JSON, so new or edited files at the same path rerun them; an unchanged folder leaves
the JSON byte-identical and reruns nothing. Hidden files and folders are skipped.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any


def fingerprint(path: str | None, root: Path) -> dict[str, Any]:
    """``{"path", "exists", "files", "bytes", "digest"}`` of a file or folder (relative paths from ``root``)."""
    if path is None:
        return {"path": None}
    target = Path(path) if Path(path).is_absolute() else root / path
    if not target.exists():
        return {"path": path, "exists": False}
    digest = hashlib.sha256()
    files = size = 0
    entries = [target] if target.is_file() else sorted(_walk(target))
    for entry in entries:
        stat = entry.stat()
        name = entry.name if entry == target else entry.relative_to(target).as_posix()
        digest.update(f"{name}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
        files += 1
        size += stat.st_size
    return {"path": path, "exists": True, "files": files, "bytes": size, "digest": digest.hexdigest()}


def _walk(folder: Path):
    for directory, subdirs, names in os.walk(folder, followlinks=True):
        subdirs[:] = sorted(d for d in subdirs if not d.startswith("."))
        for name in names:
            if not name.startswith("."):
                yield Path(directory) / name
