"""``csod`` pipeline (namespace ``csod``): ``features`` -> ``select`` -> ``train`` -> ``evaluate``.

One node per stage: a stage that fails leaves none of its outputs behind (Kedro saves a node's
outputs only when it returns), and the detector stages clean their scratch folders.
"""

from kedro.pipeline import Pipeline, node, pipeline

from revis.pipelines import node_modules


def create_pipeline(**kwargs) -> Pipeline:
    # a stage imports only its own kind's node module (revis.pipelines.node_modules)
    nodes_evaluate, nodes_features, nodes_select, nodes_train = node_modules(
        "revis.pipelines.csod", "evaluate", "features", "select", "train"
    )
    return pipeline(
        [
            node(
                nodes_features.build_features,
                inputs=[
                    "detection",
                    "params:seeds",
                    "params:data",
                    "params:yolo",
                    "params:features",
                    "params:compute",
                ],
                outputs=["detectors", "detector_report", "representatives"],
                name="build_features",
                tags=["features"],
            ),
            node(
                nodes_select.select_subsets,
                inputs=["representatives", "params:seeds", "params:select"],
                outputs="subsets",
                name="select_subsets",
                tags=["select"],
            ),
            node(
                nodes_train.train_subsets,
                inputs=["subsets", "detection", "params:data", "params:yolo", "params:train", "params:compute"],
                outputs="runs",
                name="train_subsets",
                tags=["train"],
            ),
            node(
                nodes_evaluate.report_metrics,
                inputs=[
                    "runs",
                    "subsets",
                    "detector_report",
                    "detection",
                    "params:seeds",
                    "params:data",
                    "params:select",
                ],
                outputs=["metrics", "plot_ap50_per_seed", "plot_lambda_sweep", "plot_selected_images"],
                name="report_metrics",
                tags=["evaluate"],
            ),
        ],
        namespace="csod",
        inputs={"detection": "world.detection"},
    )
