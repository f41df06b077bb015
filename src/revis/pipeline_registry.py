"""Project pipelines: every package under ``revis/pipelines`` with a ``create_pipeline``."""

from __future__ import annotations

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline

from revis.pipelines import drop_stand_ins


def register_pipelines() -> dict[str, Pipeline]:
    # a stage (revis.stage) builds only its pipeline, without the nodes of the other stage kinds
    pipelines = {name: drop_stand_ins(pipeline) for name, pipeline in find_pipelines(raise_errors=True).items()}
    pipelines["__default__"] = sum(pipelines.values(), start=Pipeline([]))
    return pipelines
