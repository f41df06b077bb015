"""params.yaml section ``lada``: smoke world, data paths, arms and schedule, teacher-student, pictures."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, Field, model_validator

from revis.config.runtime import ComputeParams
from revis.config.types import STRICT, DataPath, IntRange, Seed, Seeds

SPLITS = ("05", "1", "3")  # 0.5 %, 1 %, 3 % of the target pool labeled
ARM_KINDS = (
    "target_only",
    "supervised",
    "supervised_coordconv",
    "teacher_student",
    "teacher_student_coordconv",
    "teacher_student_fragment",
    "teacher_student_adversarial",
    "control_teacher_student",
    "control_teacher_student_coordconv",
)
# the arms of revis.detection.ssda.arm_registry (a test checks they agree; importing it here would import torch)
ARM_NAMES = ("source_only", *(f"{kind}_{split}" for kind in ARM_KINDS for split in SPLITS))
# the source pretrainings, ``<world>_<policy>`` (revis.detection.ssda.PRETRAININGS; a test checks they agree)
PRETRAININGS = ("main_merged", "main_fragment", "control_merged")
if TYPE_CHECKING:  # Literals built at run time: one of ARM_NAMES / PRETRAININGS, a str to the type checker
    ArmName = str
    PretrainingName = str
else:
    ArmName = Literal[ARM_NAMES]
    PretrainingName = Literal[PRETRAININGS]


class WorldParams(BaseModel):
    """The smoke world's generator (``revis.world.smoke``); the control world differs only in placement."""

    model_config = STRICT
    seed: Seed = 0  # the world's one draw (not replicated by the chain's seeds)
    source_cameras: int = Field(ge=1, le=50)
    source_frames: int = Field(ge=2, le=500)  # per camera
    target_cameras: int = Field(ge=1, le=500)  # the target train pool's cameras
    target_frames: int = Field(ge=2, le=500)
    test_cameras: int = Field(ge=1, le=200)  # held-out target cameras (the second test reading, test_heldout)
    test_frames: int = Field(ge=2, le=500)
    seen_test_frames: int = Field(default=4, ge=1, le=500)  # per pool camera: the test split (as in the release)
    source_test_frames: int = Field(
        default=6, ge=1, le=500
    )  # per source camera: held-out source frames (the source gate)
    negative_fraction: float = Field(default=0.4, ge=0, le=0.9)
    parts: IntRange = [2, 4]  # parts (fragment boxes) per plume
    second_plume: float = Field(default=0.15, ge=0, le=1)
    clouds: float = Field(default=0.8, ge=0, le=5)  # mean look-alike clouds per frame
    overrun: float = Field(default=0.4, ge=0, le=1)  # chance that a merged box touching the right border runs past it

    @model_validator(mode="after")
    def _sizes(self) -> WorldParams:
        if self.parts[0] < 1 or self.parts[1] > 8:
            raise ValueError(f"parts must lie in [1, 8], got {self.parts}")
        frames = self.source_cameras * (self.source_frames + self.source_test_frames)
        frames += self.target_cameras * (self.target_frames + self.seen_test_frames)
        if frames + self.test_cameras * self.test_frames > 20_000:
            raise ValueError(f"{frames} frames: the mini world is bounded at 20000 images (use real data beyond)")
        return self


class DataParams(BaseModel):
    """The real release (paper scale): LADA's label files and the HPWREN FIgLib images, read from local paths.

    All three null (default): the arms train on the smoke world. ``release_labels`` alone:
    only the label-policy statistics of the real files are computed.
    """

    model_config = STRICT
    release_labels: DataPath = None  # folder holding hpwren_source.json, target_label_1.0%.json, ... (BloomBerry/LADA)
    release_images: DataPath = None  # the local HPWREN-FIgLib-Data folder: <camera-folder>/<file>.jpg
    release_unlabeled: DataPath = None  # a COCO file listing the unlabeled target train images (no labels needed)
    # a box may run past a border by max(max_overrun px, max_overrun_fraction x side) before it is an error;
    # the defaults cover the release (at most 33 px of 3072, 1.3 % of 2048: revis.datasets.boxes)
    max_overrun: float = Field(default=8.0, ge=0, le=1000)
    max_overrun_fraction: float = Field(default=0.02, ge=0, le=0.5)

    @model_validator(mode="after")
    def _complete(self) -> DataParams:
        if (self.release_images is None) != (self.release_unlabeled is None):
            raise ValueError("release_images and release_unlabeled go together (training on the real release)")
        if self.release_images is not None and self.release_labels is None:
            raise ValueError("release_images needs release_labels (the label files)")
        return self


class ScheduleParams(BaseModel):
    """Every arm: ``pretrain_steps`` on source labels from scratch, then ``steps`` of adaptation (equal steps)."""

    model_config = STRICT
    pretrain_steps: int = Field(ge=0, le=1_000_000)  # source pretraining (shared by the arms of a world and policy)
    # which source pretrainings are trained per seed (whole chain): true (all), false (none: one for all seeds), or a
    # list of main_merged / main_fragment / control_merged; the others are shared (pretrain_seed's one draw)
    pretrain_per_seed: bool | list[PretrainingName] = ["main_merged"]
    pretrain_seed: Seed = 0  # the shared pretrainings' one draw
    steps: int = Field(ge=1, le=1_000_000)  # adaptation steps of every arm
    burn_in: int = Field(ge=0, le=1_000_000)  # supervised adaptation steps before the arm's method
    batch: int = Field(ge=1, le=512)  # labeled images per step
    unlabeled_batch: int = Field(ge=1, le=512)
    lr: float = Field(gt=0, le=1)  # AdamW, source pretraining
    adapt_lr: float = Field(gt=0, le=1)  # AdamW, adaptation (a fresh optimiser)
    warmup: int = Field(ge=0, le=1_000_000)  # adaptation steps of linear learning-rate warm-up
    weight_decay: float = Field(ge=0, le=1)
    target_share: float | None = Field(ge=0, le=1)  # labeled target share of a mixed batch; null: uniform
    log_every: int = Field(default=10, ge=1, le=100_000)
    # pool images (a fixed, evenly spaced sample) on which the final teacher's pseudo-labels are scored (the gate)
    pseudo_score_images: int = Field(default=300, ge=0, le=1_000_000)

    @model_validator(mode="after")
    def _burn_in(self) -> ScheduleParams:
        if isinstance(self.pretrain_per_seed, list) and len(set(self.pretrain_per_seed)) != len(self.pretrain_per_seed):
            raise ValueError(f"pretrain_per_seed {self.pretrain_per_seed}: a pretraining must not repeat")
        if self.burn_in > self.steps:
            raise ValueError(f"burn_in ({self.burn_in}) exceeds steps ({self.steps})")
        return self


class DetectorParams(BaseModel):
    model_config = STRICT
    model: str = Field(pattern=r"^yolov8[nsmlx]\.yaml$")  # built from its yaml
    weights: DataPath = None  # a local checkpoint (e.g. yolov8n.pt) the source pretraining starts from; null: scratch
    imgsz: int = Field(ge=32, le=2048, multiple_of=32)
    coord_layers: list[int] = Field(min_length=1)  # layers of the DetectionModel that get x/y channels
    coord_with_r: bool = False

    @model_validator(mode="after")
    def _layers(self) -> DetectorParams:
        # YOLOv8: 0-9 backbone, 10-21 neck; Concat (11, 14, 17, 20) and Upsample (10, 13) have no convolution
        bad = [i for i in self.coord_layers if i < 0 or i > 21 or i in (10, 11, 13, 14, 17, 20)]
        if bad or len(set(self.coord_layers)) != len(self.coord_layers):
            raise ValueError(f"coord_layers {self.coord_layers}: use distinct convolution layers of 0-21, not {bad}")
        return self


class TeacherParams(BaseModel):
    """Mean teacher (typical Unbiased-Teacher values in the defaults; LADA's own values are unverified)."""

    model_config = STRICT
    tau: float = Field(default=0.7, ge=0, le=1)  # pseudo-label score threshold after NMS
    lambda_u: float = Field(default=4.0, ge=0, le=1000)  # weight of the loss on pseudo-labels
    alpha: float = Field(default=0.9996, gt=0, lt=1)  # EMA rate of the teacher
    nms_iou: float = Field(default=0.5, gt=0, le=1)
    max_pseudo: int = Field(default=20, ge=1, le=1000)
    unsup_loss: Literal["cls", "all"] = "cls"
    domain_weight: float = Field(
        default=0.1, ge=0, le=100
    )  # adversarial arms: the discriminator loss's weight (Adaptive Teacher)
    domain_layer: int = Field(
        default=9, ge=0, le=9
    )  # adversarial arms: the backbone layer read (YOLOv8: 0-9, 9 = SPPF)


class TrainParams(BaseModel):
    model_config = STRICT
    arms: list[ArmName] = Field(min_length=1)
    schedule: ScheduleParams
    detector: DetectorParams
    teacher: TeacherParams = TeacherParams()

    @model_validator(mode="after")
    def _unique(self) -> TrainParams:
        if len(set(self.arms)) != len(self.arms):
            raise ValueError("arms must not repeat")
        return self


class EvaluateParams(BaseModel):
    model_config = STRICT
    picture_seed: Seed = 0  # whose predictions the picture shows
    picture_images: int = Field(default=6, ge=1, le=32)
    adapted_arm: ArmName = "teacher_student_coordconv_1"  # the adapted detector shown against source-only


class Params(BaseModel):
    model_config = STRICT
    # whole-chain seeds: seed s draws every arm's batches, augmentations and pseudo-label draws (and its own source
    # pretraining for those listed in schedule.pretrain_per_seed)
    seeds: Seeds
    compute: ComputeParams  # device; workers: chains trained at once, one process (one CPU thread) each
    world: WorldParams
    data: DataParams = DataParams()
    train: TrainParams
    evaluate: EvaluateParams = EvaluateParams()
