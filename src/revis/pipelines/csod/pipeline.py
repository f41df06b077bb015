"""``csod`` pipeline (namespace ``csod``): ``features`` -> ``select`` -> ``train`` -> ``evaluate``."""

from kedro.pipeline import Pipeline, node, pipeline

from revis.pipelines.csod import nodes


def create_pipeline(**kwargs) -> Pipeline:
    return pipeline(
        [
            node(
                nodes.train_feature_detector,
                inputs=["detection", "params:data", "params:yolo", "params:features"],
                outputs=["detector", "detector_report"],
                name="train_feature_detector",
                tags=["features"],
            ),
            node(
                nodes.extract_representatives,
                inputs=["detector", "detection", "params:data", "params:yolo", "params:features"],
                outputs="representatives",
                name="extract_representatives",
                tags=["features"],
            ),
            node(
                nodes.select_subsets,
                inputs=["representatives", "params:select"],
                outputs="subsets",
                name="select_subsets",
                tags=["select"],
            ),
            node(
                nodes.train_subsets,
                inputs=["subsets", "detection", "params:data", "params:yolo", "params:train"],
                outputs="runs",
                name="train_subsets",
                tags=["train"],
            ),
            node(
                nodes.evaluate_csod,
                inputs=["runs", "subsets", "detector_report", "params:select"],
                outputs=["metrics", "plot_ap50_vs_budget", "plot_lambda_sweep"],
                name="evaluate_csod",
                tags=["evaluate"],
            ),
            node(
                nodes.plot_selected_images,
                inputs=["subsets", "detection", "params:data", "params:select"],
                outputs="plot_selected_images",
                name="plot_selected_images",
                tags=["evaluate"],
            ),
        ],
        namespace="csod",
        inputs={"detection": "world.detection"},
    )
