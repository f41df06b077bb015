"""Semi-supervised domain adaptation experiments: arms, source pretrainings, equal steps, workers.

An *arm* is one way to train a detector for the target domain (source-only, target-only
fine-tuning, source + labeled target, teacher-student, with CoordConv, on fragment labels, on
the control world). Every arm trains in two phases and gets the same optimiser steps:

1. *source pretraining*, ``pretrain_steps`` supervised steps from scratch on the source split
   of its world and label policy. It is the same for every arm of that world and policy, so
   it is trained once and shared -- per seed or once for all seeds, chosen per pretraining
   (``pretrain_per_seed``: true, false, or the keys ``main_merged``, ``main_fragment``,
   ``control_merged`` trained per seed). Per seed, the whole chain varies with the seed; a
   pretraining shared by all seeds (``pretrain_seed``'s draw) is like the ImageNet weights every
   run of the paper starts from: fixed, and the seeds vary everything after it;
2. *adaptation*, ``steps`` steps from the pretrained weights with a fresh optimiser:
   ``burn_in`` supervised steps on the arm's labeled splits (source and/or labeled target),
   then the arm's method (more supervised steps, or teacher-student). Arms with the same
   burn-in (world, labels, policy, architecture, seed) share it: the chain trains it once and
   forks. CoordConv arms get their coordinate channels when adaptation starts, with zero
   weights, so they start from exactly the pretrained function.

Random numbers are common across arms (a controlled comparison): one stream per purpose and
seed, never per arm. The source pretraining draws its batches and augmentations from the seed
alone (the same for every world and label policy of that seed: a shared pretraining draws
``pretrain_seed``'s); every chain of a seed draws its
burn-in from one stream, so a CoordConv chain and its plain twin see the same burn-in batches;
after the fork, every arm draws its labeled batches and their augmentations from one stream and
its unlabeled images and their augmentations from another, so ``supervised_1``,
``teacher_student_1`` and ``teacher_student_coordconv_1`` see the same labeled batches, and the
teacher-student arms of one labeled split the same unlabeled images, step by step.

Every arm is evaluated through an exponential moving average of its weights taken from the
end of the burn-in with the same rate ``alpha`` -- for a teacher-student arm that average *is*
the teacher -- so arms differ only in their data and in the loss on pseudo-labels, not in
weight averaging. Chains run in ``workers`` spawned processes (one CPU thread each); results
do not depend on ``workers``.
"""

from __future__ import annotations

import copy
import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from revis.datasets.boxes import COCO_MAX_OVERRUN_FRACTION, DEFAULT_MAX_OVERRUN
from revis.datasets.coco import read_coco_detections
from revis.datasets.lada import release_file
from revis.detection.coordconv import add_coordconv
from revis.detection.detector import build_detector, detections, load_pretrained
from revis.detection.domain_adversarial import DomainAlignment
from revis.detection.letterboxed import LetterboxedSet, letterbox_coco
from revis.detection.mean_teacher import (
    MeanTeacherConfig,
    StepReport,
    ema_update,
    make_optimizer,
    score_pseudo_labels,
    supervised_step,
    teacher_student_step,
)
from revis.detection.ssda_runs import ArmRun, Curve, Method, Policy, PretrainRun, SsdaRuns
from revis.detection.streamed import concat_sets, stream_coco
from revis.workers import JobPool, dask_address, job_pool

StateDict = dict[str, torch.Tensor]

SPLIT_SUFFIX = {"05": "target_0.5", "1": "target_1", "3": "target_3"}
PRETRAININGS = ("main_merged", "main_fragment", "control_merged")  # ``<world>_<policy>`` of every source pretraining


def pretraining_name(world: str, policy: str) -> str:
    """``main_merged`` etc.: how ``pretrain_per_seed`` and the metrics name a world's pretraining on a label policy."""
    return f"{world}_{policy}"


@dataclass(frozen=True)
class Arm:
    name: str
    world: str  # "main" or "control": which data source
    labeled: tuple[str, ...]  # release splits with labels
    method: Method
    policy: Policy = "merged"
    coordconv: bool = False
    adversarial: bool = False  # teacher-student plus a gradient-reversal domain discriminator (Adaptive Teacher)

    @property
    def target_split(self) -> str | None:
        return next((s for s in self.labeled if s.startswith("target_")), None)


def arm_registry() -> dict[str, Arm]:
    """Every arm by name; ``_05``, ``_1``, ``_3``: 0.5 %, 1 %, 3 % of the target pool labeled."""
    arms = {"source_only": Arm("source_only", "main", ("source",), "supervised")}
    for suffix, split in SPLIT_SUFFIX.items():
        both = ("source", split)
        for arm in (
            Arm(f"target_only_{suffix}", "main", (split,), "supervised"),
            Arm(f"supervised_{suffix}", "main", both, "supervised"),
            Arm(f"supervised_coordconv_{suffix}", "main", both, "supervised", coordconv=True),
            Arm(f"teacher_student_{suffix}", "main", both, "teacher_student"),
            Arm(f"teacher_student_coordconv_{suffix}", "main", both, "teacher_student", coordconv=True),
            Arm(f"teacher_student_fragment_{suffix}", "main", both, "teacher_student", policy="fragment"),
            Arm(f"teacher_student_adversarial_{suffix}", "main", both, "teacher_student", adversarial=True),
            Arm(f"control_teacher_student_{suffix}", "control", both, "teacher_student"),
            Arm(f"control_teacher_student_coordconv_{suffix}", "control", both, "teacher_student", coordconv=True),
        ):
            arms[arm.name] = arm
    return arms


@dataclass(frozen=True)
class ReleaseSource:
    """Where one world's (or the real release's) files are."""

    labels: str  # folder with the release's label files
    images: str  # local image root (``<camera-folder>/<file>`` below it)
    unlabeled: str  # COCO file listing the target train pool (annotations, if any, are ignored)
    hidden: str | None = None  # folder with the pool's ground truth (mini world only): pseudo-label scores
    max_overrun: float = DEFAULT_MAX_OVERRUN  # the reader's border-overrun bound (revis.datasets.boxes)
    max_overrun_fraction: float = COCO_MAX_OVERRUN_FRACTION

    def read(self, path: str | Path, images: str | None = None) -> Any:
        """``read_coco_detections`` with this source's overrun bound (labels only when ``images`` is None)."""
        return read_coco_detections(
            path,
            images,
            check_files=images is not None,
            max_overrun=self.max_overrun,
            max_overrun_fraction=self.max_overrun_fraction,
        )


@dataclass(frozen=True)
class Schedule:
    pretrain_steps: int = 300  # source pretraining, from scratch
    steps: int = 100  # adaptation steps of every arm
    burn_in: int = 20  # supervised adaptation steps before the arm's method
    batch: int = 8  # labeled images per step
    unlabeled_batch: int = 4  # unlabeled images per teacher-student step
    lr: float = 0.003  # AdamW, source pretraining
    adapt_lr: float = 0.001  # AdamW, adaptation (a fresh optimiser, warmed up linearly)
    warmup: int = 10  # adaptation steps of linear warm-up: Adam's first steps would jolt the pretrained weights
    weight_decay: float = 0.0005
    target_share: float | None = 0.25  # share of labeled target images in a mixed batch (None: uniform)
    log_every: int = 10
    # True: every pretraining per seed; False: all shared; or the pretrainings (``<world>_<policy>``) trained per seed
    pretrain_per_seed: bool | tuple[str, ...] = ("main_merged",)
    pretrain_seed: int = 0  # the shared pretrainings' seed

    def pretrain_seed_of(self, world: str, policy: str, seed: int) -> int:
        """The seed of the pretraining a chain of ``seed`` starts from: its own, or the shared ``pretrain_seed``."""
        per_seed = self.pretrain_per_seed
        if isinstance(per_seed, bool):
            return seed if per_seed else self.pretrain_seed
        unknown = set(per_seed) - set(PRETRAININGS)
        if unknown:
            raise KeyError(f"pretrain_per_seed: unknown pretrainings {sorted(unknown)}; known: {list(PRETRAININGS)}")
        return seed if pretraining_name(world, policy) in per_seed else self.pretrain_seed

    pseudo_score_images: int = 300  # pool images (a fixed, evenly spaced sample) scoring the final teacher; 0: none


@dataclass(frozen=True)
class DetectorSpec:
    model: str = "yolov8n.yaml"
    imgsz: int = 96
    coord_layers: tuple[int, ...] = (0,)
    coord_with_r: bool = False
    device: str = "cpu"
    weights: str | None = None  # a local checkpoint the source pretraining starts from (None: from scratch)


@dataclass(frozen=True)
class PretrainJob:
    world: str
    policy: Policy
    seed: int

    @property
    def key(self) -> str:
        return f"{self.world}/source/{self.policy}/pretrain-seed{self.seed}"


@dataclass(frozen=True)
class ChainJob:
    """The arms of one seed that share a burn-in (world, labeled splits, label policy, architecture)."""

    seed: int
    world: str
    labeled: tuple[str, ...]
    policy: Policy
    coordconv: bool
    pretrain: PretrainJob
    arms: tuple[Arm, ...]

    @property
    def key(self) -> str:
        cc = "+coordconv" if self.coordconv else ""
        return f"{self.world}/{'+'.join(self.labeled)}/{self.policy}{cc}/seed{self.seed}"


def plan_chains(arm_names: Sequence[str], seeds: Sequence[int], schedule: Schedule) -> list[ChainJob]:
    """Group arms that share a burn-in into chains, one per seed; longest chains first."""
    registry = arm_registry()
    unknown = [a for a in arm_names if a not in registry]
    if unknown:
        raise KeyError(f"unknown arms {unknown}; known: {sorted(registry)}")
    members: dict[tuple[int, str, tuple[str, ...], Policy, bool], list[Arm]] = {}
    for seed in seeds:
        for name in arm_names:
            arm = registry[name]
            members.setdefault((seed, arm.world, arm.labeled, arm.policy, arm.coordconv), []).append(arm)
    chains = [
        ChainJob(
            seed,
            world,
            labeled,
            policy,
            coordconv,
            PretrainJob(world, policy, schedule.pretrain_seed_of(world, policy, seed)),
            tuple(arms),
        )
        for (seed, world, labeled, policy, coordconv), arms in members.items()
    ]
    return sorted(chains, key=lambda c: -sum(2 if a.method == "teacher_student" else 1 for a in c.arms))


def torch_device(name: str) -> torch.device:
    """``cpu``, ``auto`` (CUDA when present), ``cuda[:N]``, or ultralytics-style GPU indices ``0`` / ``0,1`` (first one)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.replace(",", "").isdigit():
        return torch.device(f"cuda:{name.split(',')[0]}")
    return torch.device(name)


def derived_seed(seed: int, name: str) -> int:
    return zlib.crc32(f"{seed}/{name}".encode()) & 0x7FFFFFFF


def stream(seed: int, purpose: str) -> torch.Generator:
    """The random stream of one purpose (``pretrain``, ``burn-in``, ``labeled``, ``unlabeled``) for one seed.

    Named by purpose and seed only -- never by arm, world or policy -- so arms share them (module doc).
    """
    return torch.Generator().manual_seed(derived_seed(seed, purpose))


# ---------------------------------------------------------------------------------------------
# data (cached per process: a worker reads each file once)

_CACHE: dict[tuple, Any] = {}


def _letterboxed(path: Path, source: ReleaseSource, imgsz: int, streamed: bool = False) -> LetterboxedSet:
    """The split's images letterboxed into memory, or (``streamed``) decoded per batch from their files.

    The labeled and test splits (hundreds of images) are held in memory; the unlabeled target pool
    is streamed (``revis.detection.streamed``: FIgLib's ~27k frames would take ≈33 GB at 640 px).
    Both give the same batches, so results do not depend on which.
    """
    key = ("lb", str(path), source, imgsz, streamed)
    if key not in _CACHE:
        read = letterbox_coco if not streamed else stream_coco
        _CACHE[key] = read(source.read(path, source.images), imgsz)
    return _CACHE[key]


def _second_readings(source: ReleaseSource, splits: Sequence[str], imgsz: int) -> dict[str, LetterboxedSet]:
    """The further test splits that exist (the smoke world's ``source_test`` / ``test_heldout``; the release has none)."""
    out = {}
    for split in splits:
        path = release_file(source.labels, split, "merged")
        if path.is_file():
            out[split] = _letterboxed(path, source, imgsz)
    return out


def _boxes_by_file(path: Path, source: ReleaseSource, imgsz: int, pool: LetterboxedSet) -> dict[str, torch.Tensor]:
    """Hidden ground truth of the pool, mapped onto the pool's canvases."""
    key = ("hidden", str(path), source, imgsz)
    if key not in _CACHE:
        data = source.read(path)
        by_file = {image.file_name: image for image in data.images}
        out = {}
        for index, name in enumerate(pool.file_names):
            image = by_file[name]
            scale, (left, top) = float(pool.scale[index]), pool.pad[index].tolist()
            offset = torch.tensor([left, top, left, top])
            out[name] = torch.from_numpy(image.boxes).float() * scale + offset
        _CACHE[key] = out
    return _CACHE[key]


def _clone(tree: Any) -> Any:
    """A copy of a (nested) state dict: tensors cloned, containers rebuilt (``copy.deepcopy`` is far slower)."""
    if isinstance(tree, torch.Tensor):
        return tree.detach().clone()
    if isinstance(tree, dict):
        return {k: _clone(v) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return type(tree)(_clone(v) for v in tree)
    return tree


def _untrained(model_yaml: str) -> torch.nn.Module:
    """A fresh copy of a once-built model (building one runs a forward pass to find its strides)."""
    key = ("model", model_yaml)
    if key not in _CACHE:
        _CACHE[key] = build_detector(model_yaml, 1, 0)
    return copy.deepcopy(_CACHE[key])


class _Cycle:
    """Indices from a shuffled permutation, reshuffled when used up (epoch-style sampling)."""

    def __init__(self, n: int, generator: torch.Generator) -> None:
        if n < 1:
            raise ValueError("cannot sample batches from an empty split")
        self.n, self.generator, self.pos = n, generator, 0
        self.order: list[int] = []

    def take(self, k: int) -> list[int]:
        out: list[int] = []
        while len(out) < k:
            if self.pos >= len(self.order):
                self.order, self.pos = torch.randperm(self.n, generator=self.generator).tolist(), 0
            out.append(self.order[self.pos])
            self.pos += 1
        return out


class _Labeled:
    """Labeled batches from one or two splits (source and target, target at a fixed share)."""

    def __init__(
        self,
        parts: list[LetterboxedSet],
        batch: int,
        share: float | None,
        generator: torch.Generator,
        domains: Sequence[int] | None = None,
    ):
        self.parts, self.batch = parts, batch
        domains = list(domains) if domains is not None else [0] * len(parts)  # 0 source, 1 target, per part
        if len(parts) == 2 and share is not None:
            n_target = min(batch, max(1, round(batch * share)))
            self.counts = [batch - n_target, n_target]
            self.cycles = [_Cycle(len(p), generator) for p in parts]
            self.domains = [torch.full((len(p),), d) for p, d in zip(parts, domains)]
        else:
            self.counts = [batch]
            merged = parts[0] if len(parts) == 1 else concat_sets(parts)
            self.parts = [merged]
            self.cycles = [_Cycle(len(merged), generator)]
            self.domains = [torch.cat([torch.full((len(p),), d) for p, d in zip(parts, domains)])]
        self.last_domains = torch.zeros(0, dtype=torch.long)  # the domain of each image of the last batch

    def next(self) -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
        images, boxes, classes, domains = [], [], [], []
        for part, cycle, count, part_domains in zip(self.parts, self.cycles, self.counts, self.domains):
            idx = cycle.take(count)
            images.append(part.images[idx])
            boxes += [part.boxes[i] for i in idx]
            classes += [part.classes[i] for i in idx]
            domains.append(part_domains[idx])
        self.last_domains = torch.cat(domains)
        return torch.cat(images), boxes, classes


# ---------------------------------------------------------------------------------------------
# one chain


def _window(reports: list[StepReport], step: int, phase: str) -> dict[str, Any]:
    n = len(reports)
    row: dict[str, Any] = {
        "step": step,
        "phase": phase,
        "loss_sup": sum(r.loss_sup for r in reports) / n,
        "loss_unsup": sum(r.loss_unsup for r in reports) / n,
    }
    pseudo, hits, hidden = (sum(getattr(r, k) for r in reports) for k in ("pseudo", "pseudo_hits", "hidden"))
    if any(r.loss_domain for r in reports):
        row["loss_domain"] = sum(r.loss_domain for r in reports) / n
    if phase == "teacher_student":
        row["pseudo_labels"] = pseudo
        if hidden:
            row["pseudo_precision"] = hits / pseudo if pseudo else math.nan
            row["pseudo_recall"] = hits / hidden
    return row


def _predict(model: torch.nn.Module, test: LetterboxedSet) -> torch.Tensor:
    """(n, 7) float32: test index, x, y, w, h (file pixels), score, class."""
    rows = []
    for index, (boxes, scores, classes) in enumerate(detections(model, test.images)):
        if len(boxes) == 0:
            continue
        original = test.to_original(index, boxes)
        xywh = torch.cat([original[:, :2], original[:, 2:] - original[:, :2]], dim=1)
        rows.append(
            torch.cat([torch.full((len(boxes), 1), float(index)), xywh, scores[:, None], classes[:, None].float()], 1)
        )
    return torch.cat(rows) if rows else torch.zeros(0, 7)


def _step_loop(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    batches: _Labeled,
    generator: torch.Generator,
    steps: range,
    log_every: int,
    phase: str,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
) -> list[dict[str, float]]:
    curve, window = [], []
    for step in steps:
        window.append(supervised_step(model, optimizer, *batches.next(), generator))
        if scheduler is not None:
            scheduler.step()
        if step % log_every == 0 or step == steps[-1]:
            curve.append(_window(window, step, phase))
            window = []
    return curve


def run_pretrain(
    job: PretrainJob, sources: dict[str, ReleaseSource], schedule: Schedule, detector: DetectorSpec
) -> tuple[PretrainRun, StateDict]:
    """Source pretraining from scratch (module doc): its curve and test detections, and its weights."""
    torch.set_num_threads(1)
    source = sources[job.world]
    device = torch_device(detector.device)
    labeled = [_letterboxed(release_file(source.labels, "source", job.policy), source, detector.imgsz)]
    test = _letterboxed(release_file(source.labels, "test", "merged"), source, detector.imgsz)
    further = _second_readings(source, ("source_test",), detector.imgsz)
    model = build_detector(detector.model, 1, job.seed)
    loaded = load_pretrained(model, detector.weights) if detector.weights is not None else None
    model = model.to(device)
    optimizer = make_optimizer(model, schedule.lr, schedule.weight_decay)
    generator = stream(job.seed, "pretrain")
    batches = _Labeled(labeled, schedule.batch, schedule.target_share, generator)
    curve = _step_loop(
        model, optimizer, batches, generator, range(1, schedule.pretrain_steps + 1), schedule.log_every, "pretrain"
    )
    state_dict = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    run = PretrainRun(
        key=job.key,
        world=job.world,
        policy=job.policy,
        seed=job.seed,
        steps=schedule.pretrain_steps,
        weights=None if loaded is None else {"path": detector.weights, "tensors_loaded": loaded["loaded"]},
        curve=curve,
        detections=_predict(model, test),
        detections_by_split={split: _predict(model, images) for split, images in further.items()},
    )
    return run, state_dict


@dataclass(frozen=True)
class _Unlabeled:
    """A teacher-student arm's unlabeled images: the target pool minus its labeled split, and their hidden truth."""

    pool: LetterboxedSet  # a streamed view of the process's one pool (no copy per arm)
    hidden: list[torch.Tensor] | None  # the pool's ground truth on its canvases (mini world only): pseudo-label scores
    cycle: _Cycle


def _unlabeled_pool(arm: Arm, source: ReleaseSource, imgsz: int, generator: torch.Generator) -> _Unlabeled:
    full_pool = _letterboxed(Path(source.unlabeled), source, imgsz, streamed=True)
    taken: set[str] = set()
    if arm.target_split is not None:  # the labeled split's file names (its labels only: nothing decoded)
        split_file = release_file(source.labels, arm.target_split, "merged")
        taken = {image.file_name for image in source.read(split_file).images}
    pool = full_pool.subset([i for i, name in enumerate(full_pool.file_names) if name not in taken])
    hidden = None
    if source.hidden is not None:
        hidden_boxes = _boxes_by_file(
            release_file(source.hidden, "target_unlabeled", arm.policy), source, imgsz, full_pool
        )
        hidden = [hidden_boxes[name] for name in pool.file_names]
    return _Unlabeled(pool, hidden, _Cycle(len(pool), generator))


def score_sample(pool_size: int, k: int) -> list[int]:
    """``k`` evenly spaced pool indices, spanning the whole pool (all of it when it is smaller)."""
    k = max(0, min(k, pool_size))
    return [i * pool_size // k for i in range(k)]


def _final_pseudo(
    average: torch.nn.Module, unlabeled: _Unlabeled | None, schedule: Schedule, teacher: MeanTeacherConfig
) -> dict[str, float]:
    """The final teacher's pseudo-labels on a fixed sample of the pool, scored (empty without hidden labels)."""
    if unlabeled is None or unlabeled.hidden is None or schedule.pseudo_score_images <= 0:
        return {}
    idx = score_sample(len(unlabeled.pool), schedule.pseudo_score_images)
    hidden = [unlabeled.hidden[i] for i in idx]
    sample = unlabeled.pool.subset(idx).images  # streamed: decoded batch by batch while scoring
    return score_pseudo_labels(average, sample, hidden, teacher).to_dict()


@dataclass
class _Adaptation:
    """What one arm's adaptation steps act on: the student, its EMA (the teacher), optimizer and warm-up."""

    model: torch.nn.Module
    average: torch.nn.Module
    optimizer: torch.optim.Optimizer
    warm: torch.optim.lr_scheduler.LRScheduler


def _adapt(
    arm: Arm,
    state: _Adaptation,
    batches: _Labeled,
    streams: tuple[torch.Generator, torch.Generator],
    unlabeled: _Unlabeled | None,
    alignment: DomainAlignment | None,
    steps: range,
    schedule: Schedule,
    teacher: MeanTeacherConfig,
) -> Curve:
    """The arm's method after the burn-in: supervised steps (EMA alongside) or teacher-student steps; its curve."""
    generator, unlabeled_generator = streams
    curve: Curve = []
    window: list[StepReport] = []
    for step in steps:
        if unlabeled is None:
            report = supervised_step(state.model, state.optimizer, *batches.next(), generator)
            ema_update(state.average, state.model, teacher.alpha)
        else:
            idx = unlabeled.cycle.take(schedule.unlabeled_batch)
            report = teacher_student_step(
                state.model,
                state.average,
                state.optimizer,
                batches.next(),
                unlabeled.pool.images[idx],
                teacher,
                generator,
                hidden=[unlabeled.hidden[i] for i in idx] if unlabeled.hidden is not None else None,
                unlabeled_generator=unlabeled_generator,
                alignment=alignment,
                labeled_domains=batches.last_domains,
            )
        state.warm.step()
        window.append(report)
        if step % schedule.log_every == 0 or step == steps[-1]:
            curve.append(_window(window, step, arm.method))
            window = []
    return curve


def _burn_in(
    job: ChainJob,
    labeled: list[LetterboxedSet],
    pretrained: StateDict,
    schedule: Schedule,
    detector: DetectorSpec,
) -> tuple[_Adaptation, Curve]:
    """The pretrained detector (CoordConv added), a fresh warmed-up optimizer and the chain's shared burn-in."""
    model = _untrained(detector.model)  # every weight is replaced by the pretrained ones next
    model.load_state_dict(pretrained)
    if job.coordconv:  # zero-initialised coordinate weights: the pretrained function, plus what coordinates can add
        add_coordconv(model, detector.coord_layers, detector.coord_with_r)
    model = model.to(torch_device(detector.device))
    optimizer = make_optimizer(model, schedule.adapt_lr, schedule.weight_decay)
    warm = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda k: min(1.0, (k + 1) / max(1, schedule.warmup)))
    generator = stream(job.seed, "burn-in")
    batches = _Labeled(labeled, schedule.batch, schedule.target_share, generator)
    start = schedule.pretrain_steps
    burn_in = range(start + 1, start + schedule.burn_in + 1)
    curve = _step_loop(model, optimizer, batches, generator, burn_in, schedule.log_every, "burn_in", warm)
    average = copy.deepcopy(model).eval()  # the teacher of a teacher-student arm (weights set per arm)
    return _Adaptation(model, average, optimizer, warm), curve


def run_chain(
    job: ChainJob,
    pretrained: PretrainRun,
    weights: StateDict,
    sources: dict[str, ReleaseSource],
    schedule: Schedule,
    detector: DetectorSpec,
    teacher: MeanTeacherConfig,
) -> list[ArmRun]:
    """Adapt the pretrained detector: shared burn-in, then every arm's continuation; one result per arm."""
    torch.set_num_threads(1)
    source = sources[job.world]
    imgsz = detector.imgsz
    labeled = [_letterboxed(release_file(source.labels, s, job.policy), source, imgsz) for s in job.labeled]
    test = _letterboxed(release_file(source.labels, "test", "merged"), source, imgsz)
    further = _second_readings(source, ("test_heldout",), imgsz)
    state, curve = _burn_in(job, labeled, weights, schedule, detector)
    fork_model, fork_optimizer = _clone(state.model.state_dict()), _clone(state.optimizer.state_dict())
    fork_warm = _clone(state.warm.state_dict())
    for p in state.average.parameters():
        p.requires_grad_(False)
    start = schedule.pretrain_steps
    results = []
    for arm in job.arms:
        state.model.load_state_dict(fork_model)
        state.optimizer.load_state_dict(_clone(fork_optimizer))
        state.warm.load_state_dict(fork_warm)
        state.average.load_state_dict(fork_model)
        generator, unlabeled_generator = stream(job.seed, "labeled"), stream(job.seed, "unlabeled")
        domains = [0 if split == "source" else 1 for split in job.labeled]
        batches = _Labeled(labeled, schedule.batch, schedule.target_share, generator, domains)
        alignment = None
        if arm.adversarial:  # its own discriminator, seeded by the seed alone
            seed = derived_seed(job.seed, "domain")
            alignment = DomainAlignment(
                state.model, teacher.domain_layer, teacher.domain_weight, schedule.adapt_lr, seed
            )
        unlabeled = None
        if arm.method == "teacher_student":
            unlabeled = _unlabeled_pool(arm, source, imgsz, unlabeled_generator)
        steps = range(start + schedule.burn_in + 1, start + schedule.steps + 1)
        streams = (generator, unlabeled_generator)
        arm_curve = _adapt(arm, state, batches, streams, unlabeled, alignment, steps, schedule, teacher)
        if alignment is not None:
            alignment.tap.remove()  # the next arm restarts from the fork without a discriminator
        results.append(
            ArmRun(
                arm=arm.name,
                seed=job.seed,
                world=arm.world,
                policy=arm.policy,
                coordconv=arm.coordconv,
                adversarial=arm.adversarial,
                method=arm.method,
                labeled=list(arm.labeled),
                chain=job.key,
                pretrain=job.pretrain.key,
                steps=schedule.pretrain_steps + schedule.steps,
                adaptation_steps=schedule.steps,
                burn_in=schedule.burn_in,
                unlabeled_images=len(unlabeled.pool) if unlabeled is not None else 0,
                curve=pretrained.curve + curve + arm_curve,
                detections=_predict(state.average, test),
                detections_by_split={split: _predict(state.average, images) for split, images in further.items()},
                test_images=len(test),
                final_pseudo=_final_pseudo(state.average, unlabeled, schedule, teacher),
            )
        )
    return results


def _pool(workers: int) -> JobPool:
    # spawned processes (no forked torch/ultralytics state) or the configured Dask cluster; jobs set their threads
    return job_pool("processes", workers, threads=None, name="ssda")


@dataclass(frozen=True)
class _Setting:
    """What every job of a run shares."""

    sources: dict[str, ReleaseSource]
    schedule: Schedule
    detector: DetectorSpec
    teacher: MeanTeacherConfig


Pretrained = dict[PretrainJob, tuple[PretrainRun, StateDict]]


def _run_inline(chains: list[ChainJob], setting: _Setting, progress: tqdm) -> tuple[Pretrained, list[ArmRun]]:
    """Every pretraining, then every chain, in this process."""
    pretrained: Pretrained = {}
    results: list[ArmRun] = []
    for job in dict.fromkeys(c.pretrain for c in chains):
        pretrained[job] = run_pretrain(job, setting.sources, setting.schedule, setting.detector)
        progress.update()
    for chain in chains:
        run, weights = pretrained[chain.pretrain]
        results += run_chain(chain, run, weights, setting.sources, setting.schedule, setting.detector, setting.teacher)
        progress.update()
    return pretrained, results


def _run_pooled(
    chains: list[ChainJob], setting: _Setting, workers: int, progress: tqdm
) -> tuple[Pretrained, list[ArmRun]]:
    """The same jobs in ``workers`` processes: a chain starts as soon as its pretraining is done (no barrier)."""
    pretrained: Pretrained = {}
    results: list[ArmRun] = []
    with _pool(workers) as pool:
        pending: dict[Any, PretrainJob | ChainJob] = {
            pool.submit(run_pretrain, job, setting.sources, setting.schedule, setting.detector): job
            for job in dict.fromkeys(c.pretrain for c in chains)
        }
        while pending:
            for future in pool.wait_any(pending):
                finished = pending.pop(future)
                if isinstance(finished, PretrainJob):
                    pretrained[finished] = future.result()
                    for chain in (c for c in chains if c.pretrain == finished):
                        args = (setting.sources, setting.schedule, setting.detector, setting.teacher)
                        pending[pool.submit(run_chain, chain, *pretrained[finished], *args)] = chain
                else:
                    results += future.result()
                progress.update()
    return pretrained, results


def run_arms(
    arm_names: Sequence[str],
    seeds: Sequence[int],
    sources: dict[str, ReleaseSource],
    schedule: Schedule,
    detector: DetectorSpec,
    teacher: MeanTeacherConfig,
    workers: int = 1,
) -> SsdaRuns:
    """Every arm x seed (module doc): the runs in arm then seed order, and the source pretrainings."""
    if not 0 <= schedule.burn_in <= schedule.steps:
        raise ValueError(f"burn_in ({schedule.burn_in}) must lie in [0, steps = {schedule.steps}]")
    chains = plan_chains(arm_names, seeds, schedule)
    missing = {c.world for c in chains} - set(sources)
    if missing:
        raise KeyError(f"arms need data sources {sorted(missing)}, given {sorted(sources)}")
    setting = _Setting(sources, schedule, detector, teacher)
    jobs = len({c.pretrain for c in chains}) + len(chains)
    progress = tqdm(total=jobs, desc=f"SSDA: pretrain, then chains ({workers} at once)")
    if workers <= 1 and dask_address() is None:
        pretrained, results = _run_inline(chains, setting, progress)
    else:
        pretrained, results = _run_pooled(chains, setting, workers, progress)
    progress.close()
    order = {(name, seed): i for i, (name, seed) in enumerate((n, s) for n in arm_names for s in seeds)}
    return SsdaRuns(
        runs=sorted(results, key=lambda r: order[(r.arm, r.seed)]),
        pretrained=[pretrained[job][0] for job in dict.fromkeys(c.pretrain for c in chains)],  # plan order
    )
