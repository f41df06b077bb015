"""Small reusable parameter types for the per-pipeline schemas."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, ConfigDict, Field

# Every section rejects unknown keys and silent type coercion.
STRICT = ConfigDict(extra="forbid", strict=True)


def _ordered(pair: list) -> list:
    if pair[0] > pair[1]:
        raise ValueError(f"range must be [low, high] with low <= high, got {pair}")
    return pair


IntRange = Annotated[list[Annotated[int, Field(ge=0)]], Field(min_length=2, max_length=2), AfterValidator(_ordered)]
FloatRange = Annotated[list[Annotated[float, Field(ge=0)]], Field(min_length=2, max_length=2), AfterValidator(_ordered)]
Fraction = Annotated[float, Field(gt=0, lt=1)]
Seed = Annotated[int, Field(ge=0, le=2**31 - 1)]


def _distinct_seeds(seeds: list[int]) -> list[int]:
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be distinct (a repeated seed counts one chain twice), got {seeds}")
    return seeds


# Whole-chain seeds (``<paper>.seeds``); a paper with a tighter bound adds ``Field(max_length=...)`` on its field.
Seeds = Annotated[list[Seed], Field(min_length=1, max_length=64), AfterValidator(_distinct_seeds)]


class _DataPathMarker:
    """Metadata of a ``DataPath`` field: DVC tracks the contents at the path, not only the string."""

    def __repr__(self) -> str:
        return "DataPath"


DATA_PATH = _DataPathMarker()
# A folder or file of the user's (a real dataset, pretrained weights); null: the mini world / no file.
DataPath = Annotated[str | None, DATA_PATH]


def cuda_available() -> bool:
    """Whether a CUDA device exists, without importing torch when it is not imported yet."""
    import sys
    from pathlib import Path

    torch = sys.modules.get("torch")
    return torch.cuda.is_available() if torch is not None else Path("/dev/nvidiactl").exists()


def _device_exists(device: str) -> str:
    """``cpu`` and ``auto`` always; a CUDA device only where one exists (checked without importing torch)."""
    if device in ("cpu", "auto"):
        return device
    if not (device == "cuda" or device.startswith("cuda:") or device.replace(",", "").isdigit()):
        raise ValueError(f"unknown device {device!r}: use cpu, auto, cuda, cuda:N or GPU indices such as 0 or 0,1")
    if not cuda_available():
        raise ValueError(f"device {device!r} asked for, but this machine has no CUDA device (use cpu or auto)")
    return device


# cpu | auto (cuda when available) | cuda | cuda:N | ultralytics-style indices "0" / "0,1"
Device = Annotated[str, AfterValidator(_device_exists)]


def data_path_fields(model: type, prefix: str) -> list[str]:
    """Dotted names of every ``DataPath`` field in a pydantic model class, nested models included."""
    import types
    import typing

    from pydantic import BaseModel

    found: list[str] = []
    for name, field in model.model_fields.items():  # type: ignore[attr-defined]
        dotted = f"{prefix}.{name}"
        if any(m is DATA_PATH for m in field.metadata):
            found.append(dotted)
            continue
        annotation = field.annotation
        candidates = (
            typing.get_args(annotation)
            if isinstance(annotation, types.UnionType) or (typing.get_origin(annotation) is typing.Union)
            else (annotation,)
        )
        for candidate in candidates:
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                found += data_path_fields(candidate, dotted)
    return found
