"""Project hooks: validate parameters first; track every run in MLflow, one experiment per paper.

``RevisMlflowHook`` extends kedro-mlflow's ``MlflowHook`` (which still does the work:
tracking URI, run lifecycle, node-parameter logging, artifact datasets). kedro-mlflow takes
one experiment name from ``mlflow.yml`` for the whole project; revis needs one experiment
per paper, a run name and tags naming the DVC stage, and the evaluate run carrying *all* of
the paper's parameters so two runs compare side by side. Those are the only additions.
"""

from __future__ import annotations

import logging
from typing import Any

import mlflow
from kedro.framework.context import KedroContext
from kedro.framework.hooks import hook_impl
from kedro.pipeline import Pipeline
from kedro_mlflow.framework.hooks.mlflow_hook import MlflowHook

from revis.config.schema import validate_params
from revis.tracking import artifact_root, git_state, main_repo_root

log = logging.getLogger(__name__)
STAGE_KINDS = ("ingest", "features", "select", "distill", "train", "attribute", "evaluate", "report")


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}} -> {"a.b": 1}; lists stay values."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


class ParameterValidationHook:
    @hook_impl(tryfirst=True)
    def after_context_created(self, context: KedroContext) -> None:
        validate_params(context.config_loader["parameters"])


class RevisMlflowHook(MlflowHook):
    @hook_impl
    def after_context_created(self, context: KedroContext) -> None:
        super().after_context_created(context)
        self._parameters = context.config_loader["parameters"]
        self._project_path = context.project_path

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Pipeline, catalog: Any) -> None:
        names = run_params.get("pipeline_names") or [run_params.get("pipeline_name") or "__default__"]
        names = [names] if isinstance(names, str) else list(names)
        paper = names[0] if len(names) == 1 else "+".join(names)
        kinds = [tag for tag in (run_params.get("tags") or []) if tag in STAGE_KINDS]
        stage = f"{paper}-{'+'.join(kinds)}" if kinds else paper
        experiment = self.mlflow_config.tracking.experiment
        experiment.name = "revis" if paper == "__default__" else paper
        experiment.create_experiment_kwargs.artifact_location = (artifact_root() / experiment.name).as_uri()
        self.mlflow_config._set_experiment()
        self.mlflow_config.tracking.run.name = stage
        super().before_pipeline_run(run_params, pipeline, catalog)
        if not self._is_mlflow_enabled or mlflow.active_run() is None:
            return
        sha, dirty = git_state(main_repo_root(self._project_path))
        mlflow.set_tags(
            {
                "paper": paper,
                "dvc_stage": stage,
                "stage_kind": "+".join(kinds) or "all",
                "mlflow.source.git.commit": sha,
                "git_commit": sha,
                "git_dirty": str(dirty).lower(),
            }
        )
        if "evaluate" in kinds or not kinds:  # the run a researcher compares: all parameters
            for key, value in flatten({name: self._parameters.get(name, {}) for name in names}).items():
                self._log_param(self.sanitize_param_name(key), value)
