"""``merlin`` pipeline (namespace ``merlin``): ``features`` -> ``evaluate``."""

from kedro.pipeline import Pipeline, node, pipeline

from revis.pipelines import node_modules


def create_pipeline(**kwargs) -> Pipeline:
    # a stage imports only its own kind's node module (revis.pipelines.node_modules)
    nodes_evaluate, nodes_features = node_modules("revis.pipelines.merlin", "evaluate", "features")
    return pipeline(
        [
            node(
                nodes_features.embed_gallery_and_queries,
                inputs=["encoders", "videos", "params:seeds", "params:compute", "params:features"],
                outputs="features",
                name="embed_gallery_and_queries",
                tags=["features"],
            ),
            node(
                nodes_evaluate.report_metrics,
                inputs=["features", "encoders", "videos", "params:compute", "params:evaluate"],
                outputs=["runs", "metrics", "plot_recall", "plot_example"],
                name="report_metrics",
                tags=["evaluate"],
            ),
        ],
        namespace="merlin",
        inputs={"videos": "videos.qvhighlights", "encoders": "vl.encoders"},
    )
