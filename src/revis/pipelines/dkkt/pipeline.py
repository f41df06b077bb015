"""``dkkt`` pipeline (namespace ``dkkt``): distill -> train -> evaluate.

It reads dsv's teachers θ* (``dsv.teachers``, trained on the full data), dsv's dataset choice
(``params:dsv.data``) and dsv's evaluation protocol (``params:dsv.evaluation``), and distils
from visible fractions of the training split.
"""

from kedro.pipeline import Pipeline, node, pipeline

from revis.pipelines.dkkt import nodes_distill, nodes_evaluate, nodes_train

DATA = {"shapes": "shapes", "digits": "digits", "data": "params:dsv.data"}


def create_pipeline(**kwargs) -> Pipeline:
    return pipeline(
        [
            node(
                nodes_distill.distill_partial,
                inputs={
                    "teachers": "teachers",
                    **DATA,
                    "datasets": "params:datasets",
                    "runtime": "params:runtime",
                    "distill": "params:distill",
                    "evaluation": "params:dsv.evaluation",
                },
                outputs=["visible", "distilled"],
                name="distill_partial",
                tags=["distill"],
            ),
            node(
                nodes_train.train_evaluation_networks,
                inputs={
                    "distilled": "distilled",
                    "runtime": "params:runtime",
                    "evaluation": "params:dsv.evaluation",
                },
                outputs="networks",
                name="train_evaluation_networks",
                tags=["train"],
            ),
            node(
                nodes_evaluate.evaluate_dkkt,
                inputs={
                    "networks": "networks",
                    "distilled": "distilled",
                    **DATA,
                    "datasets": "params:datasets",
                    "runtime": "params:runtime",
                },
                outputs=["metrics", "plot_distilled_grids", "plot_accuracy", "plot_dm_loss"],
                name="evaluate_dkkt",
                tags=["evaluate"],
            ),
        ],
        namespace="dkkt",
        inputs={"shapes": "world.shapes", "digits": "world.digits", "teachers": "dsv.teachers"},
        parameters={"params:dsv.data", "params:dsv.evaluation"},
    )
