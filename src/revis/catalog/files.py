"""Generic file datasets: JSON, text, metrics, torch objects, Parquet tables, figures, curves (atomic writes).

Metrics, figures and curves also reach the stage's MLflow run through ``revis.tracking.client``.
"""

from __future__ import annotations

import io
import json
import sys
from typing import TYPE_CHECKING, Any, cast

from kedro.io import DatasetError

from revis.atomic import atomic_file, write_bytes_atomic, write_text_atomic
from revis.catalog.base import FileDataset as _FileDataset
from revis.reporting.results import to_json
from revis.tracking.client import active

if TYPE_CHECKING:  # matplotlib and pandas load when a figure or a table is read or written, not with every stage
    import numpy as np
    import pandas as pd
    from matplotlib.figure import Figure


def _pyplot() -> Any:
    """matplotlib's pyplot on the Agg backend (files only, no window)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


class JsonDataset(_FileDataset):
    """A JSON document (dicts, lists, numbers, strings)."""

    def load(self) -> Any:
        return json.loads(self._require().read_text())

    def save(self, data: Any) -> None:
        write_text_atomic(self._filepath, json.dumps(to_json(data), indent=2, sort_keys=True) + "\n")


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
        import torch  # here, not at module level: stages that read only JSON start without torch

        return torch.load(self._require(), map_location="cpu", weights_only=True)

    def save(self, data: Any) -> None:
        import torch

        with atomic_file(self._filepath) as tmp:
            torch.save(data, tmp)


class TableDataset(_FileDataset):
    """A pandas DataFrame as Parquet (pyarrow)."""

    def load(self) -> pd.DataFrame:
        import pandas as pd

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
        return _pyplot().imread(self._require())  # type: ignore[no-any-return]

    def save(self, data: Figure) -> None:
        plt = _pyplot()
        buffer = io.BytesIO()
        data.savefig(buffer, format="png", dpi=self._dpi, bbox_inches="tight")
        plt.close(data)
        write_bytes_atomic(self._filepath, buffer.getvalue())
        client = active()
        if client is not None:
            client.log_artifact(self._filepath, self._artifact_path)


class CurveDataset(_FileDataset):
    """A data series for DVC plots: JSON records, one per x value, e.g. ``[{"epoch": 1, "shapes": 2.1, "digits": 1.9}]``.

    ``x`` names the x column and ``y`` the columns drawn as lines; ``title``, ``x_label``, ``y_label``
    and ``template`` (a DVC plot template) describe the picture. ``kedro dvc-yaml`` declares the file
    with these in dvc.yaml's top-level ``plots:``, so ``dvc plots show`` and ``dvc plots diff`` (across
    commits and experiments) draw it; the file itself is a git-tracked output of its stage. The
    columns are fixed by the catalog, not by parameters: a declared line a run did not produce is
    written as null (DVC draws no line; a missing column would break the plot), a column that is
    not declared is refused (it would never be drawn). Also an artifact of the stage's MLflow run.
    """

    def __init__(
        self,
        filepath: str,
        x: str,
        y: str | list[str],
        title: str | None = None,
        x_label: str | None = None,
        y_label: str | None = None,
        template: str = "linear",
        artifact_path: str = "curves",
        metadata: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(filepath, metadata)
        self._x = x
        self._y = [y] if isinstance(y, str) else list(y)
        if not self._y or self._x in self._y or len(set(self._y)) != len(self._y):
            raise ValueError(f"{filepath}: y must name one or more distinct columns other than x={x!r}, got {y!r}")
        if any("." in name or "[" in name for name in (self._x, *self._y)):  # Vega-Lite reads them as paths
            raise ValueError(f"{filepath}: column names for DVC plots cannot contain '.' or '[': {[x, *self._y]}")
        self._plot = {
            "x": x,
            "y": self._y,
            "title": title,
            "x_label": x_label,
            "y_label": y_label,
            "template": template,
        }
        self._artifact_path = artifact_path

    def plot_definition(self) -> dict[str, Any]:
        """The properties of this file's entry in dvc.yaml's ``plots:`` (unset ones left out)."""
        return {key: value for key, value in self._plot.items() if value is not None}

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "x": self._x, "y": self._y}

    def load(self) -> list[dict[str, Any]]:
        return json.loads(self._require().read_text())

    def save(self, data: pd.DataFrame | list[dict[str, Any]]) -> None:
        pandas = sys.modules.get("pandas")  # a DataFrame exists only once pandas is imported
        if pandas is not None and isinstance(data, pandas.DataFrame):
            records = cast("pd.DataFrame", data).to_dict(orient="records")
        else:
            records = list(data)
        declared = [self._x, *self._y]
        rows = []
        for i, record in enumerate(records):
            if self._x not in record:
                raise DatasetError(f"{self._filepath}: row {i} has no x column {self._x!r}: {sorted(record)}")
            extra = sorted(set(record) - set(declared))
            if extra:
                raise DatasetError(
                    f"{self._filepath}: columns {extra} are not declared in the catalog entry's y {self._y}; "
                    "declare them (they become lines of the DVC plot) or leave them out"
                )
            rows.append({name: to_json(record.get(name)) for name in declared})
        write_text_atomic(self._filepath, json.dumps(rows, indent=1) + "\n")
        client = active()
        if client is not None:
            client.log_artifact(self._filepath, self._artifact_path)
