"""Atomic writes: a killed run leaves either the old output or the new one, never half of it.

Files and directories are written under a hidden temporary sibling name and renamed into
place with ``os.replace`` (atomic on POSIX within one file system). A temporary's name
carries its writer's process id; temporaries left by a writer that is gone (killed) are
removed by the next write to the same target, and by ``sweep_stale_temporaries`` (the
``check-params`` stage and ``./run-stage`` run it over the folders of every DVC output);
those of a live writer are left alone.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_TMP_MARK = ".tmp-"


def _temp_sibling(target: Path) -> Path:
    return target.with_name(f".{target.name}{_TMP_MARK}{os.getpid()}")


def _writer_alive(temporary: Path, target: Path) -> bool:
    """Whether the process that named ``temporary`` still runs (unknown names count as gone)."""
    pid = temporary.name[len(f".{target.name}{_TMP_MARK}") :].removeprefix("old-")
    if not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def remove_stale_temporaries(target: Path) -> None:
    """Delete temporaries of ``target`` left behind by writers that are gone."""
    if not target.parent.is_dir():
        return
    for stale in target.parent.glob(f".{target.name}{_TMP_MARK}*"):
        if _writer_alive(stale, target):
            continue
        if stale.is_dir() and not stale.is_symlink():
            shutil.rmtree(stale, ignore_errors=True)
        else:
            stale.unlink(missing_ok=True)


def remove_stale_temporaries_in(folder: Path) -> list[Path]:
    """Delete the temporaries of every target in ``folder`` (not below it) whose writers are gone."""
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    for stale in folder.glob(f".*{_TMP_MARK}*"):
        name = stale.name[1:].split(_TMP_MARK)[0]
        if _writer_alive(stale, folder / name):
            continue
        if stale.is_dir() and not stale.is_symlink():
            shutil.rmtree(stale, ignore_errors=True)
        else:
            stale.unlink(missing_ok=True)
        removed.append(stale)
    return removed


def sweep_stale_temporaries(root: Path, outputs: list[str]) -> list[Path]:
    """Temporaries of killed writers next to any of ``outputs`` (paths relative to ``root``), removed."""
    folders = {(root / output).parent for output in outputs}
    return [path for folder in sorted(folders) for path in remove_stale_temporaries_in(folder)]


@contextmanager
def atomic_file(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``target`` atomically."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(target)
    tmp = _temp_sibling(target)
    try:
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(f"nothing was written for {target}")
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextmanager
def atomic_directory(target: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty temporary directory; on success it replaces ``target``.

    The old directory (if any) is moved aside first and deleted only after the new one is
    in place, so there is no moment at which a half-written directory sits at ``target``.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(target)
    tmp = _temp_sibling(target)
    tmp.mkdir()
    old = target.with_name(f".{target.name}{_TMP_MARK}old-{os.getpid()}")
    try:
        yield tmp
        if target.exists():
            os.replace(target, old)
        os.replace(tmp, target)
    finally:
        for leftover in (tmp, old):
            if leftover.exists():
                shutil.rmtree(leftover, ignore_errors=True)


def write_bytes_atomic(target: str | os.PathLike, data: bytes) -> None:
    with atomic_file(target) as tmp:
        tmp.write_bytes(data)


def write_text_atomic(target: str | os.PathLike, text: str) -> None:
    write_bytes_atomic(target, text.encode("utf-8"))
