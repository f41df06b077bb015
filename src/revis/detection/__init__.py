"""Object detection with ultralytics YOLO: VOC -> YOLO layout, training/evaluation, RoIAlign features.

Import ultralytics only through ``ultralytics_env.import_ultralytics`` (offline, settings and
runs under ``data/ultralytics``, its logger callbacks off).
"""

from revis.lazy import lazy_getattr

# Names resolve lazily (PEP 562): a stage that needs only the data splits (csod-evaluate) or the
# SSDA metrics (lada-evaluate) does not import torchvision, which pulls in torch._dynamo.
_WHERE = {
    "YOLOV8_LAYERS": "roi_features",
    "DetectionSplits": "data",
    "YoloConfig": "yolo",
    "YoloDataset": "yolo_format",
    "box_features": "roi_features",
    "detection_splits": "data",
    "evaluate_yolo": "yolo",
    "import_ultralytics": "ultralytics_env",
    "letterbox": "roi_features",
    "load_model_state": "yolo",
    "model_state": "yolo",
    "representative_vectors": "roi_features",
    "train_yolo": "yolo",
    "ultralytics_home": "ultralytics_env",
    "write_yolo_dataset": "yolo_format",
    "yolo_label_lines": "yolo_format",
    "yolo_line_to_box": "yolo_format",
}

__all__ = list(_WHERE)

__getattr__ = lazy_getattr(__name__, _WHERE)
