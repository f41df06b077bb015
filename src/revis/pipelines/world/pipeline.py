"""``world`` pipeline (namespace ``world``): one stage, ``ingest``."""

from kedro.pipeline import Pipeline, node, pipeline

from revis.pipelines.world import nodes_ingest as nodes


def create_pipeline(**kwargs) -> Pipeline:
    return pipeline(
        [
            node(nodes.make_shapes, ["params:seed", "params:shapes"], "shapes", name="make_shapes"),
            node(nodes.make_digits, ["params:seed", "params:digits"], "digits", name="make_digits"),
            node(nodes.make_detection, ["params:seed", "params:detection"], "detection", name="make_detection"),
            node(nodes.report_metrics, ["shapes", "digits", "detection"], "metrics", name="report_metrics"),
            node(nodes.plot_shapes, "shapes", "plot_shapes_samples", name="plot_shapes"),
            node(nodes.plot_detection, "detection", "plot_detection_samples", name="plot_detection"),
        ],
        namespace="world",
        tags=["ingest"],
    )
