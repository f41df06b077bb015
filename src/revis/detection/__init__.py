"""Object detection with ultralytics YOLO: VOC -> YOLO layout, training/evaluation, RoIAlign features.

Import ultralytics only through ``ultralytics_env.import_ultralytics`` (offline, settings and
runs under ``data/ultralytics``, its logger callbacks off).
"""

from revis.detection.data import DetectionSplits, detection_splits
from revis.detection.roi_features import YOLOV8_LAYERS, box_features, letterbox, representative_vectors
from revis.detection.ultralytics_env import import_ultralytics, ultralytics_home
from revis.detection.yolo import YoloConfig, evaluate_yolo, load_model_state, model_state, train_yolo
from revis.detection.yolo_format import YoloDataset, write_yolo_dataset, yolo_label_lines, yolo_line_to_box

__all__ = [
    "YOLOV8_LAYERS",
    "DetectionSplits",
    "YoloConfig",
    "YoloDataset",
    "box_features",
    "detection_splits",
    "evaluate_yolo",
    "import_ultralytics",
    "letterbox",
    "load_model_state",
    "model_state",
    "representative_vectors",
    "train_yolo",
    "ultralytics_home",
    "write_yolo_dataset",
    "yolo_label_lines",
    "yolo_line_to_box",
]
