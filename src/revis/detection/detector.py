"""An ultralytics DetectionModel built from its yaml for a custom training loop, with its own loss.

ultralytics has no teacher-student trainer, so LADA's loop (``revis.detection.mean_teacher``)
drives the model directly: ``build_detector`` gives a ``DetectionModel`` (no pretrained
weights, nothing downloaded) with ultralytics' default loss gains (``box`` 7.5, ``cls`` 0.5,
``dfl`` 1.5) and its ``v8DetectionLoss`` criterion; ``detections`` decodes the eval-mode
output with NMS, as ultralytics' validator does.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

import torch
from torch import nn
from torchvision.ops import batched_nms

from revis.detection.coordconv import CoordLayer, add_coordconv, coordconv_layers
from revis.detection.layers import model_yaml, yolo_layers
from revis.detection.letterboxed import Images
from revis.detection.ultralytics_env import import_ultralytics


def build_detector(
    model_yaml: str = "yolov8n.yaml",
    num_classes: int = 1,
    seed: int = 0,
    coord_layers: Sequence[int] = (),
    coord_with_r: bool = False,
) -> nn.Module:
    """A ``DetectionModel`` initialised from ``seed`` (the same seed gives the same weights with or without CoordConv)."""
    import_ultralytics()
    from ultralytics.cfg import get_cfg
    from ultralytics.nn.tasks import DetectionModel
    from ultralytics.utils import DEFAULT_CFG

    torch.manual_seed(seed)
    model = DetectionModel(cfg=model_yaml, nc=num_classes, verbose=False)
    defaults = get_cfg(DEFAULT_CFG)
    gains: Any = SimpleNamespace(box=defaults.box, cls=defaults.cls, dfl=defaults.dfl)  # what v8DetectionLoss reads
    model.args = gains
    if coord_layers:
        add_coordconv(model, coord_layers, coord_with_r)
    return model.float()


def load_pretrained(model: nn.Module, path: str) -> dict[str, Any]:
    """Copy the weights of a local checkpoint into ``model`` where names and shapes agree (paper scale).

    ``path``: an ultralytics checkpoint (``yolov8n.pt``: its ``ema`` or ``model`` module) or a
    plain state dict. The detection head's class layers differ in shape when the checkpoint has
    another number of classes (COCO's 80 against smoke's 1): they keep their initialisation.
    Returns how many tensors were loaded and which were skipped; loading nothing is an error.
    """
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=False)  # a local file the user names
    except FileNotFoundError:
        raise FileNotFoundError(f"detector weights {path} do not exist (lada.train.detector.weights)") from None
    if isinstance(checkpoint, dict) and any(k in checkpoint for k in ("ema", "model")):
        module = checkpoint.get("ema") or checkpoint["model"]
        state = module.float().state_dict() if isinstance(module, nn.Module) else module
    elif isinstance(checkpoint, dict):
        state = checkpoint
    else:
        raise ValueError(f"{path}: neither an ultralytics checkpoint nor a state dict ({type(checkpoint).__name__})")
    own = model.state_dict()
    matched = {k: v for k, v in state.items() if k in own and tuple(v.shape) == tuple(own[k].shape)}
    if not matched:
        raise ValueError(f"{path}: no tensor matches the detector by name and shape (another architecture?)")
    model.load_state_dict(matched, strict=False)
    return {"loaded": len(matched), "skipped": sorted(set(own) - set(matched))}


def criterion(model: nn.Module) -> Any:
    """ultralytics' own loss for this model (``v8DetectionLoss``), created once and cached on the model."""
    cached: Any = getattr(model, "criterion", None)
    if cached is None:
        make: Any = model.init_criterion
        cached = make()
        model.criterion = cached
    return cached


def detector_state(model: nn.Module) -> dict[str, Any]:
    """What rebuilds a model: its yaml, CoordConv layers and weights."""
    layers = coordconv_layers(model)
    first = yolo_layers(model)[layers[0]] if layers else None
    with_r = isinstance(first, CoordLayer) and first.with_r
    return {
        "yaml": model_yaml(model),
        "coord_layers": layers,
        "coord_with_r": with_r,
        "state_dict": {k: v.detach().clone() for k, v in model.state_dict().items()},
    }


def load_detector(state: dict[str, Any]) -> nn.Module:
    model = build_detector(state["yaml"], int(state["yaml"]["nc"]), 0, state["coord_layers"], state["coord_with_r"])
    model.load_state_dict(state["state_dict"])
    return model.eval()


def decode(raw: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Eval-mode output (B, 4 + nc, A) with xywh boxes -> per-anchor xyxy boxes, best score, class."""
    xy, wh = raw[:, :2].transpose(1, 2), raw[:, 2:4].transpose(1, 2)
    boxes = torch.cat([xy - wh / 2, xy + wh / 2], dim=2)
    scores, classes = raw[:, 4:].transpose(1, 2).max(dim=2)
    return boxes, scores, classes


def nms_detections(
    raw: torch.Tensor, conf: float = 0.001, iou: float = 0.7, max_det: int = 100
) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Per image ``(boxes xyxy, scores, classes)`` after class-wise NMS, best first (ultralytics' val defaults)."""
    boxes, scores, classes = decode(raw)
    out = []
    for b, s, c in zip(boxes, scores, classes):
        keep = s > conf
        b, s, c = b[keep], s[keep], c[keep]
        order = batched_nms(b, s, c, iou)[:max_det]
        out.append((b[order], s[order], c[order]))
    return out


@torch.no_grad()
def detections(
    model: nn.Module, images: Images, conf: float = 0.001, iou: float = 0.7, max_det: int = 100, batch: int = 32
) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """NMS'd detections of ``model`` (eval mode) on uint8 (N, 3, S, S) letterboxed images (in memory or
    streamed, read ``batch`` at a time), in canvas pixels."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    out: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
    for start in range(0, len(images), batch):
        raw = model(images[start : start + batch].to(device).float() / 255.0)[0]
        out += [
            (boxes.cpu(), scores.cpu(), classes.cpu())
            for boxes, scores, classes in nms_detections(raw, conf, iou, max_det)
        ]
    model.train(was_training)
    return out
