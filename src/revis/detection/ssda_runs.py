"""What an SSDA run (``revis.detection.ssda.run_arms``) produces: one record per source pretraining and per
arm x seed, typed; :meth:`SsdaRuns.to_dict` / :meth:`SsdaRuns.from_dict` convert at the catalog boundary
(``lada.runs``, a torch file read with ``weights_only=True``: plain dicts, lists, tensors)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

import torch

Method = Literal["supervised", "teacher_student"]
Policy = Literal["merged", "fragment"]
Curve = list[dict[str, Any]]  # logged points: step, phase, losses, pseudo-label counts / precision / recall


def _shallow(record: Any) -> dict[str, Any]:
    return {field.name: getattr(record, field.name) for field in dataclasses.fields(record)}


@dataclass(frozen=True)
class PretrainRun:
    """One source pretraining: its curve and its detections on the test split (and further readings)."""

    key: str
    world: str
    policy: Policy
    seed: int
    steps: int
    weights: dict[str, Any] | None  # the checkpoint it started from: path, tensors loaded (None: from scratch)
    curve: Curve
    detections: torch.Tensor  # (n, 7): test index, x, y, w, h (file pixels), score, class
    detections_by_split: dict[str, torch.Tensor]  # further test splits (the smoke world's source_test)


@dataclass(frozen=True)
class ArmRun:
    """One arm x seed after adaptation: its whole curve and its EMA detector's detections."""

    arm: str
    seed: int
    world: str
    policy: Policy
    coordconv: bool
    adversarial: bool
    method: Method
    labeled: list[str]
    chain: str  # the chain's key (arms sharing a burn-in)
    pretrain: str  # the pretraining's key
    steps: int  # pretraining + adaptation
    adaptation_steps: int
    burn_in: int
    unlabeled_images: int
    curve: Curve  # pretraining, burn-in, then the arm's own steps
    detections: torch.Tensor
    detections_by_split: dict[str, torch.Tensor]  # further test splits (the smoke world's test_heldout)
    test_images: int
    # teacher-student arms with hidden labels: the final teacher's pseudo-labels on a fixed pool sample
    # (revis.detection.mean_teacher.PseudoLabelScore.to_dict: images, pseudo, hits, hidden, precision, recall)
    final_pseudo: dict[str, float] = dataclasses.field(default_factory=dict)


@dataclass(frozen=True)
class SsdaRuns:
    runs: list[ArmRun]  # in arm then seed order
    pretrained: list[PretrainRun]
    real_release: bool = False  # trained on the real release (not the smoke world)

    def to_dict(self) -> dict[str, Any]:
        return {
            "runs": [_shallow(run) for run in self.runs],
            "pretrained": [_shallow(run) for run in self.pretrained],
            "real_release": self.real_release,
        }

    @classmethod
    def from_dict(cls, document: dict[str, Any]) -> SsdaRuns:
        return cls(
            runs=[ArmRun(**run) for run in document["runs"]],
            pretrained=[PretrainRun(**run) for run in document["pretrained"]],
            real_release=bool(document.get("real_release", False)),
        )
