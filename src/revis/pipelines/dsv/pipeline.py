"""``dsv`` pipeline (namespace ``dsv``): features -> select -> distill -> train -> evaluate.

The teachers θ* (one per dataset and chain seed) are the ``features`` stage, so retraining on
the selected / synthesized sets (``train``) never retrains them.
"""

from kedro.pipeline import Pipeline, node, pipeline

from revis.pipelines import node_modules

DATA = {
    "shapes": "shapes",
    "digits": "digits",
    "seeds": "params:seeds",
    "data": "params:data",
    "compute": "params:compute",
}


def create_pipeline(**kwargs) -> Pipeline:
    # a stage imports only its own kind's node module (revis.pipelines.node_modules)
    nodes_distill, nodes_evaluate, nodes_features, nodes_select, nodes_train = node_modules(
        "revis.pipelines.dsv", "distill", "evaluate", "features", "select", "train"
    )
    return pipeline(
        [
            node(
                nodes_features.train_teachers,
                inputs={**DATA, "teacher": "params:teacher"},
                outputs="teachers",
                name="train_teachers",
                tags=["features"],
            ),
            node(
                nodes_select.rank_training_sets,
                inputs={"teachers": "teachers", **DATA, "select": "params:select"},
                outputs=["lambdas", "subsets"],
                name="rank_training_sets",
                tags=["select"],
            ),
            node(
                nodes_distill.synthesize_dsvs,
                inputs={"teachers": "teachers", "subsets": "subsets", **DATA, "distill": "params:distill"},
                outputs="dsvs",
                name="synthesize_dsvs",
                tags=["distill"],
            ),
            node(
                nodes_train.train_evaluation_networks,
                inputs={"subsets": "subsets", "dsvs": "dsvs", **DATA, "evaluation": "params:evaluation"},
                outputs="networks",
                name="train_evaluation_networks",
                tags=["train"],
            ),
            node(
                nodes_evaluate.report_metrics,
                inputs={
                    "networks": "networks",
                    "teachers": "teachers",
                    "lambdas": "lambdas",
                    "dsvs": "dsvs",
                    **DATA,
                    "evaluation": "params:evaluation",
                },
                outputs=["metrics", "plot_dsv_grids", "plot_synthesis_curves", "plot_lambda", "plot_retrain"],
                name="report_metrics",
                tags=["evaluate"],
            ),
        ],
        namespace="dsv",
        inputs={"shapes": "world.shapes", "digits": "world.digits"},
    )
