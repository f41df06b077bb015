"""Kedro dataset classes used in ``conf/base/catalog*``; all writes are atomic.

Classes are imported on first use (``revis.catalog.JsonDataset`` loads ``revis.catalog.files``
only), so a stage depends on -- and imports -- only the dataset modules it uses.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "JsonDataset": "files",
    "TextDataset": "files",
    "MetricsDataset": "files",
    "TorchDataset": "files",
    "TableDataset": "files",
    "FigureDataset": "files",
    "CurveDataset": "files",
    "ImageSetsDataset": "images",
    "CifarFolderDataset": "images",
    "VocFolderDataset": "voc",
    "SmokeWorldDataset": "smoke",
    "QvhFolderDataset": "videos",
    "CaptionWorldDataset": "caption_world",
    "DiffusersFolderDataset": "diffusers_folder",
    "DiffusersFolderSetDataset": "diffusers_folder",
}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'revis.catalog' has no attribute {name!r}")
    return getattr(importlib.import_module(f"revis.catalog.{_WHERE[name]}"), name)
