"""``baseline`` pipeline (namespace ``baseline``): ``train`` -> ``evaluate``."""

from kedro.pipeline import Pipeline, node, pipeline

from revis.pipelines.baseline import nodes

TRAIN_PARAMS = ("datasets", "seeds", "model", "epochs", "batch_size", "lr", "momentum", "weight_decay")


def create_pipeline(**kwargs) -> Pipeline:
    return pipeline(
        [
            node(
                nodes.train_baselines,
                inputs={"shapes": "shapes", "digits": "digits", **{key: f"params:{key}" for key in TRAIN_PARAMS}},
                outputs=["models", "histories"],
                name="train_baselines",
                tags=["train"],
            ),
            node(
                nodes.evaluate_baselines,
                inputs=["models", "histories", "shapes", "digits"],
                outputs=["metrics", "plot_training_curves"],
                name="evaluate_baselines",
                tags=["evaluate"],
            ),
        ],
        namespace="baseline",
        inputs={"shapes": "world.shapes", "digits": "world.digits"},
    )
