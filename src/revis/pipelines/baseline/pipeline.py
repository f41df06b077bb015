"""``baseline`` pipeline (namespace ``baseline``): ``train`` -> ``evaluate``."""

from kedro.pipeline import Pipeline, node, pipeline

from revis.pipelines import node_modules


def create_pipeline(**kwargs) -> Pipeline:
    # a stage imports only its own kind's node module (revis.pipelines.node_modules)
    nodes_evaluate, nodes_train = node_modules("revis.pipelines.baseline", "evaluate", "train")
    return pipeline(
        [
            node(
                nodes_train.train_baselines,
                inputs=["shapes", "digits", "params:baseline"],
                outputs=["models", "histories"],
                name="train_baselines",
                tags=["train"],
            ),
            node(
                nodes_evaluate.report_metrics,
                inputs=["models", "histories", "shapes", "digits"],
                outputs=["metrics", "plot_training_curves"],
                name="report_metrics",
                tags=["evaluate"],
            ),
            node(
                nodes_evaluate.training_curve_tables,
                inputs="histories",
                outputs=["curve_train_loss", "curve_train_accuracy"],
                name="training_curve_tables",
                tags=["evaluate"],
            ),
        ],
        namespace="baseline",
        inputs={"shapes": "world.shapes", "digits": "world.digits"},
        parameters={"params:baseline": "params:baseline"},
    )
