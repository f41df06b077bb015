"""The ``runtime`` section of params.yaml: where the stages' independent jobs run (``revis.workers``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from revis.config.types import STRICT, Device


class RuntimeParams(BaseModel):
    """``executor: local`` runs each stage's jobs on its own threads or processes; ``dask`` sends
    them to the scheduler at ``scheduler`` (``tcp://host:8786``; null: ``$REVIS_DASK_SCHEDULER``).
    Results do not depend on it, so no stage lists it as a DVC parameter."""

    model_config = STRICT
    executor: Literal["local", "dask"] = "local"
    scheduler: str | None = None


class ComputeParams(BaseModel):
    """``<paper>.compute``, the one compute section every paper uses: where its tensors live, torch's CPU
    threads in the stage's own process, and processes for its independent jobs (one torch thread each).
    ``workers`` and ``threads`` change speed only; ``device`` may change float rounding (a GPU)."""

    model_config = STRICT
    device: Device = "cpu"  # cpu | cuda | cuda:N | auto (CUDA when present)
    threads: int = Field(default=1, ge=1, le=256)
    workers: int = Field(default=1, ge=1, le=64)
