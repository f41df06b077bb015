"""``biice`` pipeline (namespace ``biice``): ``train`` -> ``attribute`` -> ``evaluate``."""

from kedro.pipeline import Pipeline, node, pipeline

from revis.pipelines import node_modules


def create_pipeline(**kwargs) -> Pipeline:
    # a stage imports only its own kind's node module (revis.pipelines.node_modules)
    nodes_attribute, nodes_evaluate, nodes_train = node_modules(
        "revis.pipelines.biice", "attribute", "evaluate", "train"
    )
    return pipeline(
        [
            node(
                nodes_train.train_models,
                inputs=["shapes", "params:seeds", "params:data", "params:compute", "params:train"],
                outputs=["models", "histories"],
                name="train_models",
                tags=["train"],
            ),
            node(
                nodes_attribute.attribute_models,
                inputs=["models", "shapes", "params:data", "params:compute", "params:attribute"],
                outputs="attributions",
                name="attribute_models",
                tags=["attribute"],
            ),
            node(
                nodes_evaluate.report_metrics,
                inputs=["attributions", "histories", "shapes", "params:data", "params:evaluate"],
                outputs=[
                    "metrics",
                    "plot_concept_maps",
                    "plot_contributions",
                    "plot_convergence",
                    "plot_deletion",
                    "plot_lr_selection",
                ],
                name="report_metrics",
                tags=["evaluate"],
            ),
        ],
        namespace="biice",
        inputs={"shapes": "world.shapes"},
    )
