"""``hlclip`` pipeline (namespace ``hlclip``): ``train`` -> ``evaluate``."""

from kedro.pipeline import Pipeline, node, pipeline

from revis.pipelines import node_modules


def create_pipeline(**kwargs) -> Pipeline:
    # a stage imports only its own kind's node module (revis.pipelines.node_modules)
    nodes_evaluate, nodes_train = node_modules("revis.pipelines.hlclip", "evaluate", "train")
    return pipeline(
        [
            node(
                nodes_train.finetune_encoders,
                inputs=["encoders", "videos", "params:seeds", "params:compute", "params:data", "params:train"],
                outputs=["models", "histories"],
                name="finetune_encoders",
                tags=["train"],
            ),
            node(
                nodes_evaluate.predict_saliency,
                inputs=["models", "encoders", "videos", "params:data", "params:compute", "params:evaluate"],
                outputs="predictions",
                name="predict_saliency",
                tags=["evaluate"],
            ),
            node(
                nodes_evaluate.report_metrics,
                inputs=["predictions", "models", "histories", "videos", "params:data", "params:evaluate"],
                outputs=["metrics", "plot_strips", "plot_pooling", "plot_finetuning"],
                name="report_metrics",
                tags=["evaluate"],
            ),
        ],
        namespace="hlclip",
        inputs={"videos": "videos.qvhighlights", "encoders": "vl.encoders"},
    )
