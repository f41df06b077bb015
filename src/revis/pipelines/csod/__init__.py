"""``csod``: coreset selection for object detection (Lee et al., arXiv 2404.09161) with ultralytics YOLO."""


def create_pipeline(**kwargs):
    """Kedro's pipeline discovery entry; imports the wiring (and its node modules) only when asked."""
    from revis.pipelines.csod.pipeline import create_pipeline as create

    return create(**kwargs)
