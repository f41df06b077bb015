"""``t2i`` pipeline (namespace ``t2i``): ``ingest`` (caption world, judge) -> ``train`` (UNet) -> ``evaluate``."""

from kedro.pipeline import Pipeline, node, pipeline

from revis.pipelines import node_modules


def create_pipeline(**kwargs) -> Pipeline:
    # a stage imports only its own kind's node module (revis.pipelines.node_modules)
    nodes_evaluate, nodes_ingest, nodes_train = node_modules("revis.pipelines.t2i", "evaluate", "ingest", "train")
    return pipeline(
        [
            node(
                nodes_ingest.make_caption_world, "params:world", "captions", name="make_caption_world", tags=["ingest"]
            ),
            node(
                nodes_ingest.fit_judge,
                ["captions", "params:judge", "params:compute"],
                ["judge", "judge_history"],
                name="fit_judge",
                tags=["ingest"],
            ),
            node(nodes_ingest.plot_world, "captions", "plot_world_samples", name="plot_world", tags=["ingest"]),
            node(
                nodes_train.train_models,
                ["captions", "judge", "params:seeds", "params:train", "params:evaluate", "params:compute"],
                ["model", "history", "replicates", "replicate_history", "curve_fidelity"],
                name="train_models",
                tags=["train"],
            ),
            node(
                nodes_evaluate.report_metrics,
                ["model", "replicates", "captions", "judge", "history", "params:evaluate", "params:compute"],
                ["metrics", "plot_samples", "plot_training_loss"],
                name="report_metrics",
                tags=["evaluate"],
            ),
        ],
        namespace="t2i",
    )
