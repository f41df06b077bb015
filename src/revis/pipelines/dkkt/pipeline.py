"""``dkkt`` pipeline (namespace ``dkkt``): distill -> train -> evaluate.

It reads dsv's teachers θ* (``dsv.teachers``, trained on the full data), dsv's loading settings
(``params:dsv.data``) and dsv's evaluation protocol (``params:dsv.evaluation``), and distils
from visible fractions of the training split.
"""

from kedro.pipeline import Pipeline, node, pipeline

from revis.pipelines import node_modules

DATA = {"shapes": "shapes", "digits": "digits", "seeds": "params:seeds", "data": "params:dsv.data"}


def create_pipeline(**kwargs) -> Pipeline:
    # a stage imports only its own kind's node module (revis.pipelines.node_modules)
    nodes_distill, nodes_evaluate, nodes_train = node_modules("revis.pipelines.dkkt", "distill", "evaluate", "train")
    return pipeline(
        [
            node(
                nodes_distill.distill_partial,
                inputs={
                    "teachers": "teachers",
                    **DATA,
                    "fractions": "params:fractions",
                    "compute": "params:compute",
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
                    "compute": "params:compute",
                    "evaluation": "params:dsv.evaluation",
                    "networks_per_set": "params:networks",
                },
                outputs="networks",
                name="train_evaluation_networks",
                tags=["train"],
            ),
            node(
                nodes_evaluate.report_metrics,
                inputs={
                    "networks": "networks",
                    "distilled": "distilled",
                    **DATA,
                    "compute": "params:compute",
                    "evaluation": "params:dsv.evaluation",
                },
                outputs=["metrics", "plot_distilled_grids", "plot_accuracy", "plot_dm_loss"],
                name="report_metrics",
                tags=["evaluate"],
            ),
        ],
        namespace="dkkt",
        inputs={"shapes": "world.shapes", "digits": "world.digits", "teachers": "dsv.teachers"},
        parameters={"params:dsv.data", "params:dsv.evaluation"},
    )
