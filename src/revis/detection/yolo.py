"""YOLOv8 from its yaml (no pretrained weights), trained and evaluated with ultralytics on CPU.

Small-data settings that matter (ultralytics' defaults assume large datasets):
- ``nbs`` (nominal batch size) equals ``batch``: otherwise ultralytics accumulates gradients
  over ``nbs / batch`` batches, i.e. a 16-image subset would get one optimiser step per
  four epochs;
- ``warmup_epochs`` is a parameter (0 by default here): ultralytics' warm-up ramps the
  learning rate over whole epochs, most of a short run on a small subset;
- validation runs once, after the last epoch (``val=False``), so no model is picked on the
  held-out split; the test AP comes from one explicit ``evaluate_yolo`` call;
- AdamW runs with ``foreach`` kernels: torch's default on CPU is a Python loop over the ~200
  parameter tensors, a sixth of a step at 64 px.

ultralytics skips an image it cannot use with a log line ("ignoring corrupt image/label") and
trains or evaluates on the rest. Here every image ultralytics loaded is compared with the list
it was given, for training and for evaluation; a skipped image is a ``DataError`` naming it
(and quoting ultralytics' reason), never a quieter dataset.
"""

from __future__ import annotations

import copy
import shutil
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from revis.datasets.imageset import DataError
from revis.detection.layers import class_names, model_yaml, strides
from revis.detection.ultralytics_env import import_ultralytics

EVAL_BATCH = 32


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
    width_multiple: float | None = None  # None: the width of the yaml's scale (yolov8n: 0.25)


def ultralytics_device(device: str) -> str:
    """revis' device names (``revis.config.types.Device``) in ultralytics' spelling: cpu, 0, 0,1."""
    if device == "auto":
        return "0" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        return "0"
    return device.removeprefix("cuda:")


def scaled_model_yaml(model: str, width_multiple: float, folder: str | Path) -> Path:
    """``model``'s yaml with its width multiple replaced, written to ``folder`` under the same file name.

    The depth multiple and the channel cap stay those of the yaml's scale (``yolov8n.yaml``: the
    ``n`` row); the file name keeps the scale letter, so ultralytics picks the same row.
    """
    import_ultralytics()
    from ultralytics.nn.tasks import yaml_model_load

    document = yaml_model_load(model)
    scale = document.pop("scale", "")
    document.pop("yaml_file", None)
    scales = document.get("scales")
    if scales:
        key = scale if scale in scales else next(iter(scales))
        depth, _, max_channels = scales[key]
        document["scales"] = {key: [depth, width_multiple, max_channels]}
    else:
        document["width_multiple"] = width_multiple
    path = Path(folder) / Path(model).name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def _common(config: YoloConfig) -> dict[str, Any]:
    return {
        "imgsz": config.imgsz,
        "batch": config.batch,
        "device": ultralytics_device(config.device),
        "workers": 0,
        "plots": False,
        "verbose": False,
    }


def listed_images(data_yaml: str | Path, split: str) -> list[str]:
    """The image paths that a dataset yaml's ``split`` list file names."""
    document = yaml.safe_load(Path(data_yaml).read_text())
    return [line.strip() for line in Path(document[split]).read_text().splitlines() if line.strip()]


def _ultralytics_messages(dataset: Any) -> list[str]:
    """ultralytics' per-image messages from its label cache (why it skipped an image), if readable."""
    try:
        from ultralytics.data.utils import load_dataset_cache_file

        cache = load_dataset_cache_file(Path(dataset.label_files[0]).parent.with_suffix(".cache"))
        return [str(m) for m in cache.get("msgs", [])]
    except Exception:  # the cache is only for the message; the check itself does not need it
        return []


def check_loaded(dataset: Any, expected: Sequence[str], what: str) -> None:
    """``DataError`` when ultralytics' ``dataset`` did not load every image of ``expected``."""
    loaded = {str(Path(p)) for p in dataset.im_files}
    missing = [p for p in expected if str(Path(p)) not in loaded]
    if missing:
        reasons = [m for m in _ultralytics_messages(dataset) if any(Path(p).name in m for p in missing)]
        raise DataError(
            f"ultralytics skipped {len(missing)} of {len(expected)} {what} images, e.g. {missing[:3]}: "
            + ("; ".join(reasons[:3]) or "no reason recorded")
        )


def _training_callbacks(data_yaml: Path, history: list[dict[str, float]]) -> dict[str, Any]:
    expected = listed_images(data_yaml, "train")

    def before_training(trainer: Any) -> None:
        check_loaded(trainer.train_loader.dataset, expected, "training")
        for group in trainer.optimizer.param_groups:
            group["foreach"] = True  # one kernel per op over all tensors (torch's CPU default loops in Python)

    def after_epoch(trainer: Any) -> None:
        losses = {f"loss.{k.split('/')[-1]}": float(v) for k, v in (trainer.tloss or {}).items()}
        history.append({"epoch": int(trainer.epoch) + 1, **losses})

    return {"on_pretrain_routine_end": before_training, "on_train_epoch_end": after_epoch}


def train_yolo(
    data_yaml: str | Path,
    config: YoloConfig,
    seed: int,
    run_dir: str | Path,
    keep_run: bool = False,
    history: list[dict[str, float]] | None = None,
) -> torch.nn.Module:
    """Train ``config.model`` from scratch on ``data_yaml``'s train list; return the final DetectionModel (eval).

    ``run_dir`` is ultralytics' save dir (weights, results.csv); it is deleted afterwards
    unless ``keep_run``. ``history``, when given, receives the mean training losses per epoch.
    A training image that ultralytics skips is a ``DataError``.
    """
    import_ultralytics()
    from ultralytics import YOLO

    run_dir = Path(run_dir).resolve()
    model_file: str | Path = config.model
    if config.width_multiple is not None:
        model_file = scaled_model_yaml(config.model, config.width_multiple, run_dir.parent / f"{run_dir.name}-model")
    model = YOLO(str(model_file), task="detect")
    for event, callback in _training_callbacks(Path(data_yaml), history if history is not None else []).items():
        model.add_callback(event, callback)
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
    trained = model.model
    if not isinstance(trained, torch.nn.Module):
        raise RuntimeError(f"ultralytics returned no trained model for {data_yaml}")
    net = trained.float().eval()
    if config.width_multiple is not None:
        shutil.rmtree(Path(model_file).parent, ignore_errors=True)
    if not keep_run:
        shutil.rmtree(run_dir, ignore_errors=True)
    return net


def evaluate_yolo(
    net: torch.nn.Module,
    data_yaml: str | Path,
    config: YoloConfig,
    run_dir: str | Path,
    split: str = "test",
    keep_stats: bool = False,
) -> dict[str, Any]:
    """AP50 and AP50-95 (ultralytics' COCO-style, 101-point) on ``split``, overall and per class.

    Every image of the split's list must be evaluated: one that ultralytics skips is a ``DataError``.
    ``ap50_halves``: AP50 on the even and on the odd images (the split's sampling noise, see
    ``ap50_of``); ``keep_stats`` adds the per-image matches (``stats``).
    """
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
            "batch": max(config.batch, EVAL_BATCH),  # inference only: larger batches, the same AP
        },
    )
    per_image: list[dict[str, Any]] = []
    update_stats = validator.metrics.update_stats

    def keep(stat: dict[str, Any]) -> None:  # ultralytics clears its stats after computing AP; keep a copy
        per_image.append({k: stat[k] for k in ("tp", "conf", "pred_cls", "target_cls")})
        update_stats(stat)

    validator.metrics.update_stats = keep  # type: ignore[method-assign]  # a tap on ultralytics' own method
    validator(model=copy.deepcopy(net))  # ultralytics fuses conv+bn in place; keep the caller's model intact
    expected = listed_images(data_yaml, split)
    if validator.dataloader is None:
        raise DataError(f"ultralytics built no dataloader for the {split} images of {data_yaml}")
    check_loaded(validator.dataloader.dataset, expected, f"{split}")
    seen = int(validator.seen or 0)
    if seen != len(expected):
        raise DataError(f"ultralytics evaluated {validator.seen} of the {len(expected)} {split} images of {data_yaml}")
    box = validator.metrics.box
    names = validator.names
    if names is None:
        raise DataError(f"ultralytics read no class names from {data_yaml}")
    per_class = {names[int(c)]: float(ap) for c, ap in zip(validator.metrics.ap_class_index, box.ap50)}
    shutil.rmtree(run_dir, ignore_errors=True)
    result = {
        "ap50": float(box.map50),
        "ap50_95": float(box.map),
        "ap50_per_class": per_class,
        "ap50_halves": [ap50_of(per_image[0::2]), ap50_of(per_image[1::2])],
        "n_images": seen,
    }
    if keep_stats:
        result["stats"] = per_image
    return result


def ap50_of(stats: Sequence[dict[str, Any]]) -> float | None:
    """AP50 (ultralytics' ``ap_per_class``, mean over the classes present) of some images' matched detections.

    Over the two halves of a split (even and odd images) it measures the split's own sampling
    noise: sd(AP50 of the whole split) ~ sd(half A - half B) / 2.
    """
    from ultralytics.utils.metrics import ap_per_class

    if not stats:
        return None
    joined = {k: np.concatenate([s[k] for s in stats], 0) for k in ("tp", "conf", "pred_cls", "target_cls")}
    if joined["target_cls"].size == 0:
        return None
    ap = ap_per_class(joined["tp"], joined["conf"], joined["pred_cls"], joined["target_cls"])[5]
    return float(ap[:, 0].mean()) if len(ap) else 0.0


def config_dict(config: YoloConfig) -> dict[str, Any]:
    return asdict(config)


def model_state(net: torch.nn.Module) -> dict[str, Any]:
    """What rebuilds a trained DetectionModel: its yaml dict, class names and weights."""
    return {
        "yaml": model_yaml(net),
        "names": class_names(net),
        "stride": strides(net),
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
