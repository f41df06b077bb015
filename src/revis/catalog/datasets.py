"""Kedro dataset classes for the catalog; every save is atomic (temp name, then rename).

They adapt the library's readers and writers (``revis.datasets``) to Kedro; ``filepath`` is
relative to the project root, as Kedro's own datasets are.
"""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import mlflow
import numpy as np
import pandas as pd
import torch
from kedro.io import AbstractDataset, DatasetError

from revis.atomic import atomic_file, write_bytes_atomic, write_text_atomic
from revis.datasets.cifar import read_cifar10, read_world_rules, write_cifar10
from revis.datasets.imageset import ImageSet, load_imagesets_npz, save_imagesets_npz
from revis.datasets.voc import VocData, read_voc_folder, write_voc
from revis.reporting.summary import flat_numbers


class _FileDataset(AbstractDataset):
    def __init__(self, filepath: str, metadata: dict[str, Any] | None = None) -> None:
        self._filepath = Path(filepath)
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}

    def _exists(self) -> bool:
        return self._filepath.exists()

    def _require(self) -> Path:
        if not self._filepath.exists():
            raise DatasetError(f"{self._filepath} does not exist; run the stage that writes it (see dvc.yaml)")
        return self._filepath


class JsonDataset(_FileDataset):
    """A JSON document (dicts, lists, numbers, strings)."""

    def load(self) -> Any:
        return json.loads(self._require().read_text())

    def save(self, data: Any) -> None:
        write_text_atomic(self._filepath, json.dumps(_plain(data), indent=2, sort_keys=True) + "\n")


class TextDataset(_FileDataset):
    """A UTF-8 text file (e.g. the generated scoreboard)."""

    def load(self) -> str:
        return self._require().read_text(encoding="utf-8")

    def save(self, data: str) -> None:
        write_text_atomic(self._filepath, data)


class MetricsDataset(JsonDataset):
    """``reports/<paper>/metrics.json``; numeric leaves also go to the active MLflow run."""

    def save(self, data: dict[str, Any]) -> None:
        super().save(data)
        if mlflow.active_run() is not None:
            numbers = flat_numbers(data)
            if numbers:
                mlflow.log_metrics(numbers)
            mlflow.log_artifact(str(self._filepath))


class TorchDataset(_FileDataset):
    """Tensors / state dicts / plain containers via ``torch.save``; loaded with ``weights_only=True``."""

    def load(self) -> Any:
        return torch.load(self._require(), map_location="cpu", weights_only=True)

    def save(self, data: Any) -> None:
        with atomic_file(self._filepath) as tmp:
            torch.save(data, tmp)


class TableDataset(_FileDataset):
    """A pandas DataFrame as Parquet (pyarrow)."""

    def load(self) -> pd.DataFrame:
        return pd.read_parquet(self._require())

    def save(self, data: pd.DataFrame) -> None:
        with atomic_file(self._filepath) as tmp:
            data.to_parquet(tmp, index=False)


class FigureDataset(_FileDataset):
    """A matplotlib figure saved as PNG (the figure is closed after saving)."""

    def __init__(self, filepath: str, dpi: int = 110, metadata: dict[str, Any] | None = None) -> None:
        super().__init__(filepath, metadata)
        self._dpi = dpi

    def load(self) -> np.ndarray:
        return plt.imread(self._require())

    def save(self, data: plt.Figure) -> None:
        buffer = io.BytesIO()
        data.savefig(buffer, format="png", dpi=self._dpi, bbox_inches="tight")
        plt.close(data)
        write_bytes_atomic(self._filepath, buffer.getvalue())


class ImageSetsDataset(_FileDataset):
    """Named splits of an ``ImageSet`` in one compressed .npz."""

    def load(self) -> dict[str, ImageSet]:
        return load_imagesets_npz(self._require())

    def save(self, data: dict[str, ImageSet]) -> None:
        save_imagesets_npz(self._filepath, data)


class CifarFolderDataset(_FileDataset):
    """A CIFAR-10-layout folder: ``{"train": ImageSet, "test": ImageSet, "rules": dict}``."""

    def load(self) -> dict[str, Any]:
        root = self._require()
        out: dict[str, Any] = {split: read_cifar10(root, split) for split in ("train", "test")}
        out["rules"] = read_world_rules(root) if (root / "world.json").exists() else {}
        return out

    def save(self, data: dict[str, Any]) -> None:
        write_cifar10(self._filepath, data["train"], data["test"], world=data.get("rules"))


class VocFolderDataset(_FileDataset):
    """A Pascal VOC year folder; saves a ``VocData`` with scenes, loads one with records."""

    def load(self) -> VocData:
        return read_voc_folder(self._require())

    def save(self, data: VocData) -> None:
        if data.scenes is None:
            raise DatasetError("VocFolderDataset saves VocData with scenes (pixels), not records only")
        write_voc(self._filepath, data.scenes, data.split_ids, data.class_names)


def _plain(value: Any) -> Any:
    """JSON-ready: numpy/torch scalars and arrays to Python; NaN/inf to None."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (np.ndarray, torch.Tensor)):
        return _plain(value.tolist())
    if isinstance(value, (np.generic,)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
