"""``vl`` pipeline (namespace ``vl``): ``train`` -> ``evaluate``."""

from kedro.pipeline import Pipeline, node, pipeline

from revis.pipelines import node_modules


def create_pipeline(**kwargs) -> Pipeline:
    # a stage imports only its own kind's node module (revis.pipelines.node_modules)
    nodes_evaluate, nodes_train = node_modules("revis.pipelines.vl", "evaluate", "train")
    return pipeline(
        [
            node(
                nodes_train.pretrain_encoders,
                inputs=["videos", "params:seeds", "params:compute", "params:data", "params:encoder", "params:train"],
                outputs=["encoders", "histories"],
                name="pretrain_encoders",
                tags=["train"],
            ),
            node(
                nodes_evaluate.report_metrics,
                inputs=["encoders", "histories", "videos", "params:data", "params:compute", "params:evaluate"],
                outputs=["metrics", "plot_similarity", "plot_pretraining"],
                name="report_metrics",
                tags=["evaluate"],
            ),
        ],
        namespace="vl",
        inputs={"videos": "videos.qvhighlights"},
    )
