"""params.yaml section ``csod``: one model per stage (features, select, train), plus the shared ones.

Validated before any compute (``kedro check-params``, the DVC ``check-params`` stage): the
YOLO model yaml must be one that the installed ultralytics builds (looked up without importing
it), the device must exist, sizes are bounded.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field, model_validator

from revis.config.runtime import ComputeParams
from revis.config.types import STRICT, DataPath, Seeds

Method = Literal["random", "balanced_random", "csod", "csod_image", "facility_location", "k_center"]
Layer = Literal["backbone_p3", "backbone_p4", "backbone_p5", "neck_p3", "neck_p4", "neck_p5"]
# detection model yamls: yolov8n.yaml, yolo11s.yaml, yolov8n-p2.yaml, ... (the scale letter picks the width)
_DETECT_YAML = re.compile(r"^yolo(v\d+|\d+)([nslmx])(-p2|-p6|-ghost|-ghost-p2|-ghost-p6)?\.yaml$")


def _ultralytics_cfg() -> Path | None:
    spec = importlib.util.find_spec("ultralytics")  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "cfg" / "models"


def _model_yaml(name: str) -> str:
    """A detection model yaml of the installed ultralytics (built from scratch), or an existing local yaml file."""
    if not name.endswith(".yaml"):
        raise ValueError(f"{name!r} is not a model yaml (*.yaml): weights (*.pt) would be downloaded")
    if Path(name).expanduser().is_file():
        return name
    if not _DETECT_YAML.match(name):
        raise ValueError(
            f"{name!r} is neither a local yaml file nor an ultralytics detection model yaml "
            "(yolov8n.yaml, yolov8s.yaml, yolo11n.yaml, ...)"
        )
    cfg = _ultralytics_cfg()
    unified = re.sub(r"(\d+)([nslmx])(.+)?$", r"\1\3", name)  # yolov8n.yaml -> yolov8.yaml, as ultralytics does
    if cfg is not None and not any(cfg.rglob(unified)):
        raise ValueError(f"{name!r}: the installed ultralytics has no {unified} under {cfg}")
    return name


ModelYaml = Annotated[str, AfterValidator(_model_yaml)]


def _distinct(values: list) -> list:
    if len(set(values)) != len(values):
        raise ValueError(f"values must not repeat, got {values}")
    return values


class DataParams(BaseModel):
    """Where the images come from: the mini world (``voc_root: null``) or a local VOCdevkit."""

    model_config = STRICT
    voc_root: DataPath = None
    train_splits: list[str] = Field(min_length=1, max_length=8)  # world: split names; VOCdevkit: "VOC2007/trainval"
    test_split: str
    # a VOCdevkit without per-class lists: these classes (default: the 20 VOC classes)
    class_names: list[str] | None = Field(None, min_length=1, max_length=1000)

    @model_validator(mode="after")
    def _specs(self) -> DataParams:
        if self.voc_root is not None:
            for spec in [*self.train_splits, self.test_split]:
                if spec.count("/") != 1:
                    raise ValueError(
                        f"with voc_root, splits read '<year folder>/<split>' (e.g. VOC2007/test), got {spec!r}"
                    )
        return self


class YoloParams(BaseModel):
    """ultralytics training settings shared by the feature detectors and every subset's detector."""

    model_config = STRICT
    model: ModelYaml  # a model yaml: trained from scratch, nothing downloaded
    # the model's width multiple (null: its scale's, yolov8n 0.25); depth and channel cap stay the scale's
    width_multiple: float | None = Field(gt=0, le=2)
    imgsz: int = Field(ge=32, le=2048, multiple_of=32)
    batch: int = Field(ge=2, le=1024)  # ultralytics refuses a last batch of 1 at small sizes
    optimizer: Literal["SGD", "Adam", "AdamW"]
    lr0: float = Field(gt=0, le=1)
    warmup_epochs: float = Field(ge=0, le=100)
    mosaic: float = Field(ge=0, le=1)
    close_mosaic: int = Field(ge=0, le=10_000)


class FeaturesParams(BaseModel):
    """The feature detectors: one per seed, trained on the whole train pool (the paper's feature extractor)."""

    model_config = STRICT
    steps: int = Field(ge=1, le=1_000_000)  # optimiser steps of each feature detector
    layer: Layer
    roi_size: int = Field(ge=1, le=32)


class CsodParams(BaseModel):
    model_config = STRICT
    lam: float = Field(ge=0, le=1e6)
    reduction: Literal["sum", "mean"]
    multi_class: Literal["shared", "per_class"]
    class_order: Literal["index", "rarest_first"]


Budget = Annotated[int, Field(ge=1, le=1_000_000)]


class LambdaSweep(BaseModel):
    model_config = STRICT
    # include 0 (the paper: below a threshold CSOD loses to random); the main lam is trained once
    values: list[Annotated[float, Field(ge=0, le=1e6)]] = Field(min_length=1, max_length=32)
    budgets: list[Budget] = Field(min_length=1, max_length=16)


class SelectParams(BaseModel):
    model_config = STRICT
    methods: list[Method] = Field(min_length=1)
    budgets: Annotated[list[Budget], Field(min_length=1, max_length=16), AfterValidator(_distinct)]
    # methods run at the smallest budget only (extra baselines the budget of the run cannot afford at every size)
    smallest_budget_only: list[Method] = []
    csod: CsodParams
    lambda_sweep: LambdaSweep

    @model_validator(mode="after")
    def _budgets(self) -> SelectParams:
        if "random" not in self.methods:
            raise ValueError("methods must include 'random' (the gap CSOD - random is the headline)")
        if not set(self.smallest_budget_only) <= set(self.methods):
            raise ValueError("smallest_budget_only names methods that are not in methods")
        if "random" in self.smallest_budget_only:
            raise ValueError("random runs at every budget (every gap is measured against it)")
        return self


class TrainParams(BaseModel):
    model_config = STRICT
    # optimiser steps per subset's detector, the same for every budget: epochs = ceil(steps / batches per epoch)
    steps: int = Field(ge=1, le=1_000_000)


class Params(BaseModel):
    model_config = STRICT
    # whole-chain seeds: seed s trains feature detector s, draws selection s, trains every subset's detector with s
    seeds: Seeds
    compute: ComputeParams  # device; workers: detectors trained at once, one process (one CPU thread) each
    data: DataParams
    yolo: YoloParams
    features: FeaturesParams
    select: SelectParams
    train: TrainParams
