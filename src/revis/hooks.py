"""Project hooks: validate every parameter section first; track every stage as an MLflow run.

``TrackingHook`` (``revis.tracking.hook``) replaces kedro-mlflow: revis needs one experiment
per paper, one run per DVC stage with the tags researchers filter by, and a stage start-up
that does not pay MLflow's import (the run is recorded by a companion process).
"""

from __future__ import annotations

from typing import Any

from kedro.framework.hooks import hook_impl

from revis.config.runtime import RuntimeParams
from revis.config.schema import validate_params
from revis.tracking.hook import TrackingHook
from revis.workers import configure


class ParameterValidationHook:
    @hook_impl(tryfirst=True)
    def after_context_created(self, context: Any) -> None:
        validated = validate_params(context.config_loader["parameters"])
        runtime = validated["runtime"]
        assert isinstance(runtime, RuntimeParams)
        configure(runtime.executor, runtime.scheduler)  # where independent jobs run (revis.workers)


__all__ = ["ParameterValidationHook", "TrackingHook"]
