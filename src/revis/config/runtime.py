"""The ``runtime`` section of params.yaml: where the stages' independent jobs run (``revis.workers``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from revis.config.types import STRICT


class RuntimeParams(BaseModel):
    """``executor: local`` runs each stage's jobs on its own threads or processes; ``dask`` sends
    them to the scheduler at ``scheduler`` (``tcp://host:8786``; null: ``$REVIS_DASK_SCHEDULER``).
    Results do not depend on it, so no stage lists it as a DVC parameter."""

    model_config = STRICT
    executor: Literal["local", "dask"] = "local"
    scheduler: str | None = None
