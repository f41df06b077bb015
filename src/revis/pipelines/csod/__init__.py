"""``csod``: coreset selection for object detection (Lee et al., arXiv 2404.09161) with ultralytics YOLO."""

from revis.pipelines.csod.pipeline import create_pipeline

__all__ = ["create_pipeline"]
