"""``lada`` pipeline (namespace ``lada``): ``ingest`` -> ``train`` -> ``evaluate``."""

from kedro.pipeline import Pipeline, node, pipeline

from revis.pipelines import node_modules


def create_pipeline(**kwargs) -> Pipeline:
    # a stage imports only its own kind's node module (revis.pipelines.node_modules)
    nodes_evaluate, nodes_ingest, nodes_train = node_modules("revis.pipelines.lada", "evaluate", "ingest", "train")
    return pipeline(
        [
            node(nodes_ingest.make_world, "params:world", "world", name="make_world", tags=["ingest"]),
            node(nodes_ingest.make_control, "params:world", "control", name="make_control", tags=["ingest"]),
            node(
                nodes_train.train_arms,
                inputs=["world", "control", "params:data", "params:train", "params:seeds", "params:compute"],
                outputs="runs",
                name="train_arms",
                tags=["train"],
            ),
            node(
                nodes_evaluate.report_metrics,
                inputs=["runs", "world", "control", "params:data"],
                outputs=["metrics", "plot_ap_per_arm"],
                name="report_metrics",
                tags=["evaluate"],
            ),
            node(
                nodes_evaluate.plot_world_samples,
                inputs=["world", "control", "params:evaluate"],
                outputs="plot_world_samples",
                name="plot_world_samples",
                tags=["evaluate"],
            ),
            node(
                nodes_evaluate.plot_predictions,
                inputs=["runs", "world", "control", "params:data", "params:evaluate"],
                outputs="plot_predictions",
                name="plot_predictions",
                tags=["evaluate"],
            ),
            node(
                nodes_evaluate.plot_pseudo_labels,
                "runs",
                "plot_pseudo_labels",
                name="plot_pseudo_labels",
                tags=["evaluate"],
            ),
        ],
        namespace="lada",
    )
