"""Generic file datasets: JSON, text, metrics, torch objects, Parquet tables, figures (atomic writes).

Metrics and figures also reach the stage's MLflow run through ``revis.tracking.client``.
"""

from __future__ import annotations

import io
import json
import math
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from revis.atomic import atomic_file, write_bytes_atomic, write_text_atomic
from revis.catalog.base import FileDataset as _FileDataset
from revis.tracking.client import active


class JsonDataset(_FileDataset):
    """A JSON document (dicts, lists, numbers, strings)."""

    def load(self) -> Any:
        return json.loads(self._require().read_text())

    def save(self, data: Any) -> None:
        write_text_atomic(self._filepath, json.dumps(_plain(data), indent=2, sort_keys=True) + "\n")


class TextDataset(_FileDataset):
    """A UTF-8 text file (e.g. the generated scoreboard); with ``log_artifact``, also an MLflow artifact."""

    def __init__(self, filepath: str, log_artifact: bool = False, metadata: dict[str, Any] | None = None) -> None:
        super().__init__(filepath, metadata)
        self._log_artifact = log_artifact

    def load(self) -> str:
        return self._require().read_text(encoding="utf-8")

    def save(self, data: str) -> None:
        write_text_atomic(self._filepath, data)
        client = active()
        if client is not None and self._log_artifact:
            client.log_artifact(self._filepath)


class MetricsDataset(JsonDataset):
    """``reports/<paper>/metrics.json``; its numbers and the claims' headline effects also go to the stage's run."""

    def __init__(self, filepath: str, claims: str | None = None, metadata: dict[str, Any] | None = None) -> None:
        super().__init__(filepath, metadata)
        self._claims = claims

    def save(self, data: dict[str, Any]) -> None:
        super().save(data)
        client = active()
        if client is not None:
            client.log_metrics_file(self._filepath, self._claims)


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
    """A matplotlib figure saved as PNG (closed after saving), also an artifact of the stage's run."""

    def __init__(
        self, filepath: str, dpi: int = 110, artifact_path: str = "plots", metadata: dict[str, Any] | None = None
    ) -> None:
        super().__init__(filepath, metadata)
        self._dpi = dpi
        self._artifact_path = artifact_path

    def load(self) -> np.ndarray:
        return plt.imread(self._require())

    def save(self, data: plt.Figure) -> None:
        buffer = io.BytesIO()
        data.savefig(buffer, format="png", dpi=self._dpi, bbox_inches="tight")
        plt.close(data)
        write_bytes_atomic(self._filepath, buffer.getvalue())
        client = active()
        if client is not None:
            client.log_artifact(self._filepath, self._artifact_path)


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
