"""``videos`` pipeline (namespace ``videos``): one stage, ``ingest``."""

from kedro.pipeline import Pipeline, node, pipeline

from revis.pipelines.videos import nodes_ingest as nodes


def create_pipeline(**kwargs) -> Pipeline:
    return pipeline(
        [
            node(nodes.make_videos, "params:videos", "qvhighlights", name="make_videos"),
            node(nodes.report_metrics, "qvhighlights", "metrics", name="report_metrics"),
            node(nodes.plot_videos, "qvhighlights", "plot_samples", name="plot_videos"),
        ],
        namespace="videos",
        parameters={"params:videos": "params:videos"},
        tags=["ingest"],
    )
