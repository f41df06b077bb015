"""YOLOv8 from its yaml (no pretrained weights), trained and evaluated with ultralytics on CPU.

Small-data settings that matter (ultralytics' defaults assume large datasets):
- ``nbs`` (nominal batch size) equals ``batch``: otherwise ultralytics accumulates gradients
  over ``nbs / batch`` batches, i.e. a 16-image subset would get one optimiser step per
  four epochs;
- ``warmup_epochs`` is a parameter (0 by default here): ultralytics' warm-up ramps the
  learning rate over whole epochs, most of a short run on a small subset;
- validation runs once, after the last epoch (``val=False``), so no model is picked on the
  held-out split; the test AP comes from one explicit ``evaluate_yolo`` call.
"""

from __future__ import annotations

import copy
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from revis.detection.ultralytics_env import import_ultralytics


@dataclass(frozen=True)
class YoloConfig:
    model: str = "yolov8n.yaml"  # an ultralytics model yaml: built from scratch, never downloaded
    imgsz: int = 128
    epochs: int = 30
    batch: int = 16
    optimizer: str = "AdamW"
    lr0: float = 0.002
    warmup_epochs: float = 0.0
    mosaic: float = 1.0
    close_mosaic: int = 0
    device: str = "cpu"


def _common(config: YoloConfig) -> dict[str, Any]:
    return {
        "imgsz": config.imgsz,
        "batch": config.batch,
        "device": config.device,
        "workers": 0,
        "plots": False,
        "verbose": False,
    }


def train_yolo(
    data_yaml: str | Path, config: YoloConfig, seed: int, run_dir: str | Path, keep_run: bool = False
) -> torch.nn.Module:
    """Train ``config.model`` from scratch on ``data_yaml``'s train list; return the final DetectionModel (eval).

    ``run_dir`` is ultralytics' save dir (weights, results.csv); it is deleted afterwards
    unless ``keep_run``.
    """
    import_ultralytics()
    from ultralytics import YOLO

    run_dir = Path(run_dir).resolve()
    model = YOLO(config.model, task="detect")
    model.train(
        data=str(data_yaml),
        epochs=config.epochs,
        optimizer=config.optimizer,
        lr0=config.lr0,
        nbs=config.batch,
        warmup_epochs=config.warmup_epochs,
        mosaic=config.mosaic,
        close_mosaic=config.close_mosaic,
        seed=seed,
        deterministic=True,
        pretrained=False,
        amp=False,
        val=False,
        save=False,
        project=str(run_dir.parent),
        name=run_dir.name,
        exist_ok=True,
        **_common(config),
    )
    net = model.model.float().eval()
    if not keep_run:
        shutil.rmtree(run_dir, ignore_errors=True)
    return net


def evaluate_yolo(
    net: torch.nn.Module, data_yaml: str | Path, config: YoloConfig, run_dir: str | Path, split: str = "test"
) -> dict[str, Any]:
    """AP50 and AP50-95 (ultralytics' COCO-style, 101-point) on ``split``, overall and per class."""
    import_ultralytics()
    from ultralytics.models.yolo.detect import DetectionValidator

    run_dir = Path(run_dir).resolve()
    validator = DetectionValidator(
        args={
            "data": str(data_yaml),
            "split": split,
            "mode": "val",
            "conf": 0.001,
            "iou": 0.7,
            "project": str(run_dir.parent),
            "name": run_dir.name,
            "exist_ok": True,
            **_common(config),
        },
    )
    validator(model=copy.deepcopy(net))  # ultralytics fuses conv+bn in place; keep the caller's model intact
    box = validator.metrics.box
    names = validator.names
    per_class = {names[int(c)]: float(ap) for c, ap in zip(validator.metrics.ap_class_index, box.ap50)}
    shutil.rmtree(run_dir, ignore_errors=True)
    return {
        "ap50": float(box.map50),
        "ap50_95": float(box.map),
        "ap50_per_class": per_class,
        "n_images": int(validator.seen),
    }


def config_dict(config: YoloConfig) -> dict[str, Any]:
    return asdict(config)


def model_state(net: torch.nn.Module) -> dict[str, Any]:
    """What rebuilds a trained DetectionModel: its yaml dict, class names and weights."""
    return {
        "yaml": dict(net.yaml),
        "names": {int(k): str(v) for k, v in net.names.items()},
        "stride": net.stride.tolist(),
        "state_dict": {k: v.detach().clone() for k, v in net.state_dict().items()},
    }


def load_model_state(state: dict[str, Any]) -> torch.nn.Module:
    import_ultralytics()
    from ultralytics.nn.tasks import DetectionModel

    net = DetectionModel(cfg=state["yaml"], nc=len(state["names"]), verbose=False)
    net.load_state_dict(state["state_dict"])
    net.names = state["names"]
    net.stride = torch.tensor(np.asarray(state["stride"], dtype=np.float32))
    return net.float().eval()
