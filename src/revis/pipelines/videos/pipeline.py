"""``videos`` pipeline (namespace ``videos``): one stage, ``ingest``."""

from kedro.pipeline import Pipeline, node, pipeline

from revis.pipelines.videos import nodes_ingest as nodes


def create_pipeline(**kwargs) -> Pipeline:
    return pipeline(
        [
            node(nodes.make_videos, "params:videos", "qvhighlights", name="make_videos"),
            node(nodes.summarize_videos, "qvhighlights", "metrics", name="summarize_videos"),
            node(nodes.plot_videos, "qvhighlights", "plot_samples", name="plot_videos"),
        ],
        namespace="videos",
        parameters={"params:videos": "params:videos"},
        tags=["ingest"],
    )
