"""Teacher-student (mean-teacher) training of an ultralytics DetectionModel with its own loss.

One step, as in Unbiased Teacher (Liu et al. 2021), the framework LADA builds on:

1. the teacher (an exponential moving average of the student, eval mode, no gradient)
   predicts on the *weak* view of a batch of unlabeled target images; detections with score
   >= ``tau`` after NMS become pseudo-labels;
2. the student sees the *strong* views of a labeled batch and of the same unlabeled images;
   loss = supervised loss (ultralytics' ``v8DetectionLoss``: box + cls + dfl) +
   ``lambda_u`` x the loss on the pseudo-labels -- by default its classification term only
   (``unsup_loss="cls"``: pseudo-boxes are too imprecise to regress to, Unbiased Teacher's
   choice), or all three terms;
3. one optimiser step, then teacher <- ``alpha`` * teacher + (1 - ``alpha``) * student
   (parameters and float buffers; integer buffers are copied).

Defaults are typical mean-teacher values (Unbiased/Adaptive Teacher: ``alpha`` 0.9996,
``tau`` 0.7, ``lambda_u`` 4); LADA's own values are not published in what we could read
(unverified). ``alpha`` 0.9996 averages over ~2500 steps: a schedule of a few hundred steps
needs a smaller one (params.yaml says which, and why).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import torch
from torch import nn
from torchvision.ops import box_iou

from revis.detection.detector import criterion, decode
from revis.detection.letterboxed import Images
from revis.detection.weak_strong import StrongAugment, strong_view, weak_view

if TYPE_CHECKING:
    from revis.detection.domain_adversarial import DomainAlignment


@dataclass(frozen=True)
class MeanTeacherConfig:
    tau: float = 0.7  # pseudo-label score threshold (after NMS)
    lambda_u: float = 4.0  # weight of the loss on pseudo-labels
    alpha: float = 0.9996  # EMA rate of the teacher
    nms_iou: float = 0.5  # NMS of the teacher's detections
    max_pseudo: int = 20  # pseudo-labels per image at most
    unsup_loss: Literal["cls", "all"] = "cls"
    domain_weight: float = 0.1  # adversarial arms: weight of the domain discriminator's loss (Adaptive Teacher)
    domain_layer: int = 9  # adversarial arms: the backbone layer the discriminator reads (YOLOv8: 9 = SPPF, last)


@torch.no_grad()
def ema_update(teacher: nn.Module, student: nn.Module, alpha: float) -> None:
    """teacher <- alpha * teacher + (1 - alpha) * student, for parameters and float buffers; others copied."""
    source = student.state_dict()
    for name, value in teacher.state_dict().items():
        if value.dtype.is_floating_point:
            value.mul_(alpha).add_(source[name].detach(), alpha=1.0 - alpha)
        else:
            value.copy_(source[name])


def select_pseudo_labels(
    raw: torch.Tensor, tau: float, iou: float = 0.5, max_det: int = 20, floor: float = 0.001
) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Teacher output (B, 4 + nc, A) -> per image (boxes xyxy, scores, classes) with score >= ``tau`` after NMS.

    NMS runs first on every detection above ``floor`` (as a detector's own post-processing
    does), the threshold after it: what the teacher would report, cut at ``tau``.
    """
    from torchvision.ops import batched_nms

    boxes, scores, classes = decode(raw)
    out = []
    for b, s, c in zip(boxes, scores, classes):
        keep = s > floor
        b, s, c = b[keep], s[keep], c[keep]
        order = batched_nms(b, s, c, iou)
        b, s, c = b[order], s[order], c[order]
        confident = s >= tau
        out.append((b[confident][:max_det], s[confident][:max_det], c[confident][:max_det]))
    return out


def targets(boxes: Sequence[torch.Tensor], classes: Sequence[torch.Tensor], imgsz: int) -> dict[str, torch.Tensor]:
    """ultralytics' training batch format: ``batch_idx``, ``cls`` (n, 1), ``bboxes`` (n, 4) normalised xywh."""
    idx, cls, xywh = [], [], []
    for i, (b, c) in enumerate(zip(boxes, classes)):
        if len(b) == 0:
            continue
        b = b.float().clamp(0, imgsz)
        idx.append(torch.full((len(b),), float(i)))
        cls.append(c.float().view(-1, 1))
        xywh.append(
            torch.stack([(b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2, b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]], 1)
            / imgsz
        )
    if not idx:
        return {"batch_idx": torch.zeros(0), "cls": torch.zeros(0, 1), "bboxes": torch.zeros(0, 4)}
    return {"batch_idx": torch.cat(idx), "cls": torch.cat(cls), "bboxes": torch.cat(xywh)}


Predictions = dict[str, torch.Tensor | list[torch.Tensor]]  # a DetectionModel's training-mode output


def _split(preds: Predictions, n: int) -> tuple[Predictions, Predictions]:
    """Training-mode predictions of a concatenated batch -> (first n images, the rest)."""
    first: Predictions = {}
    rest: Predictions = {}
    for key, value in preds.items():
        if isinstance(value, (list, tuple)):
            first[key], rest[key] = [v[:n] for v in value], [v[n:] for v in value]
        else:
            first[key], rest[key] = value[:n], value[n:]
    return first, rest


def detection_loss(model: nn.Module, preds: dict, batch: dict[str, torch.Tensor], terms: Literal["cls", "all"] = "all"):
    """ultralytics' loss (gains applied, times the batch size, as its trainer uses it); ``cls``: that term only."""
    loss_fn = criterion(model)
    size = preds["boxes"].shape[0]
    _, vector, _ = loss_fn.get_assigned_targets_and_loss(preds, batch)
    total = vector[1] if terms == "cls" else vector.sum()
    return total * size, vector.detach()


def matched(pred: torch.Tensor, truth: torch.Tensor, iou: float = 0.5) -> int:
    """True positives of ``pred`` (best first) against ``truth`` boxes: greedy one-to-one matching at ``iou``."""
    if len(pred) == 0 or len(truth) == 0:
        return 0
    overlaps = box_iou(pred, truth)
    used = torch.zeros(len(truth), dtype=torch.bool)
    hits = 0
    for row in overlaps:
        row = row.masked_fill(used, -1.0)
        best = int(row.argmax())
        if row[best] >= iou:
            used[best] = True
            hits += 1
    return hits


@dataclass
class StepReport:
    loss_sup: float
    loss_unsup: float = 0.0
    pseudo: int = 0  # pseudo-labels made this step
    pseudo_hits: int = 0  # of which match a hidden ground-truth box (IoU >= 0.5)
    hidden: int = 0  # hidden ground-truth boxes of the unlabeled batch
    loss_domain: float = 0.0  # adversarial arms: the domain discriminator's loss (log 2 = 0.69: chance)


def _to(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    return {k: v.to(device) for k, v in batch.items()}


def _backward(model: nn.Module, optimizer: torch.optim.Optimizer, loss: torch.Tensor) -> None:
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=10.0)  # as ultralytics' trainer
    optimizer.step()


def supervised_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    images: torch.Tensor,
    boxes: Sequence[torch.Tensor],
    classes: Sequence[torch.Tensor],
    generator: torch.Generator,
    strong: StrongAugment = StrongAugment(),
) -> StepReport:
    """One optimiser step on a labeled batch (uint8 canvases): weak geometry, strong photometry."""
    model.train()
    device = next(model.parameters()).device
    weak, weak_boxes, _ = weak_view(images, boxes, generator)
    x = strong_view(weak, generator, strong).to(device)
    preds = model(x)
    loss, _ = detection_loss(model, preds, _to(targets(weak_boxes, classes, x.shape[-1]), device))
    _backward(model, optimizer, loss)
    return StepReport(loss_sup=float(loss.detach()))


def teacher_student_step(
    student: nn.Module,
    teacher: nn.Module,
    optimizer: torch.optim.Optimizer,
    labeled: tuple[torch.Tensor, Sequence[torch.Tensor], Sequence[torch.Tensor]],
    unlabeled: torch.Tensor,
    config: MeanTeacherConfig,
    generator: torch.Generator,
    hidden: Sequence[torch.Tensor] | None = None,
    strong: StrongAugment = StrongAugment(),
    unlabeled_generator: torch.Generator | None = None,
    alignment: DomainAlignment | None = None,
    labeled_domains: torch.Tensor | None = None,
) -> StepReport:
    """One mean-teacher step (module doc); ``hidden``: the unlabeled images' true boxes, only to score pseudo-labels.

    ``generator`` augments the labeled batch with the same draws, in the same order, as
    ``supervised_step`` would; ``unlabeled_generator`` (default: ``generator``) augments the
    unlabeled batch, so a supervised arm and a teacher-student arm can share their labeled views.
    ``alignment`` (with ``labeled_domains``, 0 source / 1 target per labeled image) adds the
    adversarial domain loss on the student's backbone features (``revis.detection.domain_adversarial``).
    """
    unlabeled_generator = generator if unlabeled_generator is None else unlabeled_generator
    images, boxes, classes = labeled
    size = images.shape[-1]
    device = next(student.parameters()).device
    weak_l, weak_boxes, _ = weak_view(images, boxes, generator)
    weak_u, hidden_w, _ = weak_view(unlabeled, hidden, unlabeled_generator)
    teacher.eval()
    with torch.no_grad():
        raw = teacher(weak_u.to(device).float() / 255.0)[0]
    pseudo = [
        tuple(t.cpu() for t in p) for p in select_pseudo_labels(raw, config.tau, config.nms_iou, config.max_pseudo)
    ]
    student.train()
    strong_l = strong_view(weak_l, generator, strong)
    x = torch.cat([strong_l, strong_view(weak_u, unlabeled_generator, strong)]).to(device)
    preds_l, preds_u = _split(student(x), len(images))
    loss_sup, _ = detection_loss(student, preds_l, _to(targets(weak_boxes, classes, size), device))
    pseudo_targets = targets([p[0] for p in pseudo], [p[2] for p in pseudo], size)
    loss_unsup, _ = detection_loss(student, preds_u, _to(pseudo_targets, device), config.unsup_loss)
    loss = loss_sup + config.lambda_u * loss_unsup
    loss_domain = torch.zeros(())
    if alignment is not None:
        if labeled_domains is None or len(labeled_domains) != len(images):
            raise ValueError("adversarial alignment needs the domain (0 source, 1 target) of every labeled image")
        loss_domain = alignment.loss(torch.cat([labeled_domains.float(), torch.ones(len(unlabeled))]))
        loss = loss + config.domain_weight * loss_domain
        alignment.optimizer.zero_grad(set_to_none=True)
    _backward(student, optimizer, loss)
    if alignment is not None:
        alignment.optimizer.step()
    ema_update(teacher, student, config.alpha)
    report = StepReport(
        loss_sup=float(loss_sup.detach()),
        loss_unsup=float(loss_unsup.detach()),
        pseudo=sum(len(p[0]) for p in pseudo),
        loss_domain=float(loss_domain.detach()),
    )
    if hidden_w is not None:
        report.hidden = sum(len(h) for h in hidden_w)
        report.pseudo_hits = sum(matched(p[0], h) for p, h in zip(pseudo, hidden_w))
    return report


@dataclass(frozen=True)
class PseudoLabelScore:
    """A teacher's pseudo-labels on unlabeled images against their hidden ground truth (IoU >= 0.5, one-to-one)."""

    images: int
    pseudo: int  # pseudo-labels made
    hits: int  # of which match a hidden box
    hidden: int  # hidden ground-truth boxes

    @property
    def precision(self) -> float:
        return self.hits / self.pseudo if self.pseudo else float("nan")

    @property
    def recall(self) -> float:
        return self.hits / self.hidden if self.hidden else float("nan")

    def to_dict(self) -> dict[str, float]:
        return {
            "images": self.images,
            "pseudo": self.pseudo,
            "hits": self.hits,
            "hidden": self.hidden,
            "precision": self.precision,
            "recall": self.recall,
        }


@torch.no_grad()
def score_pseudo_labels(
    teacher: nn.Module,
    images: Images,
    hidden: Sequence[torch.Tensor],
    config: MeanTeacherConfig,
    batch: int = 32,
) -> PseudoLabelScore:
    """The pseudo-labels ``teacher`` would make (``tau``, NMS, ``max_pseudo`` of ``config``) on uint8 canvases
    ``images`` (in memory or streamed, read batch by batch) seen unflipped, scored against ``hidden``
    (their true boxes, canvas pixels).

    The end-of-training reading of a teacher on a fixed set of pool images; the per-step counts of
    :func:`teacher_student_step` see a few random images per step and are noisy (a window of ten
    steps holds ~20 boxes).
    """
    was_training = teacher.training
    teacher.eval()
    device = next(teacher.parameters()).device
    pseudo = hits = 0
    for start in range(0, len(images), batch):
        raw = teacher(images[start : start + batch].to(device).float() / 255.0)[0]
        labels = select_pseudo_labels(raw, config.tau, config.nms_iou, config.max_pseudo)
        for (boxes, _, _), truth in zip(labels, hidden[start : start + batch]):
            pseudo += len(boxes)
            hits += matched(boxes.cpu(), truth)
    teacher.train(was_training)
    return PseudoLabelScore(len(images), pseudo, hits, sum(len(h) for h in hidden))


def make_optimizer(model: nn.Module, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    """AdamW with decay on weights only (not on biases and norm parameters), as ultralytics groups them."""
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    return torch.optim.AdamW(
        [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=lr,
        foreach=True,
    )
