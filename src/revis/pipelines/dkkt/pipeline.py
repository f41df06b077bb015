"""``dkkt`` pipeline (namespace ``dkkt``): distill -> train -> evaluate.

It reads the teacher θ* of the ``dsv`` pipeline (``dsv.teacher``, trained on the full data:
the knowledge an edge device can ship without its data) and dsv's dataset choice
(``params:dsv.data``), and distils from a visible fraction of the training split.
"""

from kedro.pipeline import Pipeline, node, pipeline

from revis.pipelines.dkkt import nodes

DATA = {"shapes": "shapes", "digits": "digits", "data": "params:dsv.data"}


def create_pipeline(**kwargs) -> Pipeline:
    return pipeline(
        [
            node(
                nodes.sample_partial,
                inputs={**DATA, "datasets": "params:datasets", "partial": "params:partial"},
                outputs="partial_data",
                name="sample_partial",
                tags=["distill"],
            ),
            node(
                nodes.distill_partial,
                inputs={
                    "teacher": "teacher",
                    "partial": "partial_data",
                    **DATA,
                    "datasets": "params:datasets",
                    "runtime": "params:runtime",
                    "distill": "params:distill",
                },
                outputs="distilled",
                name="distill_partial",
                tags=["distill"],
            ),
            node(
                nodes.train_on_distilled,
                inputs={"distilled": "distilled", **DATA, "runtime": "params:runtime", "train": "params:train"},
                outputs="trained",
                name="train_on_distilled",
                tags=["train"],
            ),
            node(
                nodes.evaluate_dkkt,
                inputs={"trained": "trained", "distilled": "distilled", **DATA},
                outputs=["metrics", "plot_distilled_grids", "plot_accuracy"],
                name="evaluate_dkkt",
                tags=["evaluate"],
            ),
        ],
        namespace="dkkt",
        inputs={"shapes": "world.shapes", "digits": "world.digits", "teacher": "dsv.teacher"},
        parameters={"params:dsv.data"},
    )
