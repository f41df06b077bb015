"""``hlclip`` pipeline (namespace ``hlclip``): ``train`` -> ``evaluate``."""

from kedro.pipeline import Pipeline, node, pipeline

from revis.pipelines.hlclip import nodes_evaluate, nodes_train


def create_pipeline(**kwargs) -> Pipeline:
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
