"""Seeded training of patch classifiers with either a linear or a Bi-ICE head.

One loop for both heads so that the comparison differs only in the head: AdamW with linear
warm-up then cosine decay per step (the CCT recipe), cross-entropy, plus for Bi-ICE the
optional explanation loss and entropy sparsity term. After every epoch it records how far
the concept slots moved (slot drift), the training-time view of "concepts converge".

Stopping rule (with validation images and ``patience``): the schedule spans ``epochs`` (the
maximum); after every epoch the validation accuracy is measured, training stops once it has not
improved for ``patience`` epochs, and the weights of the best epoch (the first of equals) are
restored. Without ``patience`` every epoch runs and the last weights are kept.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field
from torch import nn
from tqdm.auto import tqdm

from revis.concepts.biice import BiICEClassifier
from revis.concepts.losses import attention_entropy, explanation_loss, patch_coverage


class ConceptTrainConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    epochs: int = Field(10, ge=1, le=100_000)
    batch_size: int = Field(64, ge=1)
    lr: float = Field(4e-4, gt=0)
    weight_decay: float = Field(1e-3, ge=0)
    warmup_epochs: float = Field(1.0, ge=0)
    expl_weight: float = Field(0.0, ge=0)  # 0: no concept supervision
    sparsity_weight: float = Field(0.0, ge=0)
    expl_background: bool = False
    patience: int | None = Field(None, ge=1, le=100_000)  # epochs without a better validation accuracy; None: all


@dataclass
class ConceptHistory:
    loss: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)
    expl_loss: list[float] = field(default_factory=list)
    slot_drift: list[float] = field(default_factory=list)  # ||S0_e - S0_{e-1}||_F / ||S0_{e-1}||_F, learned slots
    bound_drift: list[float] = field(default_factory=list)  # same for the bound slots of a fixed probe batch
    validation_accuracy: list[float] = field(default_factory=list)  # per epoch, when validation images are given
    best_epoch: int = 0  # the epoch (1-based) whose weights are kept; 0: the last (no validation)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _schedule(step: int, warmup: int, total: int) -> float:
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


@torch.no_grad()
def _slot_snapshot(model: BiICEClassifier, probe: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    was_training = model.training
    model.eval()
    bound = model.explain(probe).slots.clone()
    model.train(was_training)
    return model.head.binding.slots.detach().clone()[0].cpu(), bound.cpu()


def _relative_change(new: torch.Tensor, old: torch.Tensor) -> float:
    """||new - old||_F / ||old||_F; for a batch (B, K, D), per item then averaged."""
    if old.dim() == 2:
        new, old = new[None], old[None]
    return float(((new - old).flatten(1).norm(dim=1) / old.flatten(1).norm(dim=1).clamp_min(1e-12)).mean())


def train_concept_classifier(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    config: ConceptTrainConfig | dict,
    seed: int,
    *,
    masks: torch.Tensor | None = None,
    presence: torch.Tensor | None = None,
    probe_size: int = 64,
    device: str | torch.device = "cpu",
    progress: bool = True,
    desc: str = "train",
    validation: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> ConceptHistory:
    """Train ``model`` in place. Bi-ICE models use ``masks`` (N, K, H, W) or ``presence`` (N, K)
    for the explanation loss when ``config.expl_weight > 0``; linear-head models ignore them.
    ``validation`` (images, labels): accuracy after every epoch, and with ``config.patience`` the stopping
    rule of the module docstring."""
    trainer = ConceptTrainer(
        model,
        x,
        y,
        config,
        seed,
        masks=masks,
        presence=presence,
        probe_size=probe_size,
        device=device,
        progress=progress,
        desc=desc,
        validation=validation,
    )
    trainer.run()
    return trainer.finish()


class ConceptTrainer:
    """:func:`train_concept_classifier` in resumable parts: ``run(until)`` trains up to epoch ``until`` (or to the
    end) and can be called again to go on where it stopped, with the same schedule, optimizer state and batch
    order, so training a run in parts gives the weights of training it at once. ``finish`` restores the
    stopping rule's best weights and returns the history."""

    def __init__(
        self,
        model: nn.Module,
        x: torch.Tensor,
        y: torch.Tensor,
        config: ConceptTrainConfig | dict,
        seed: int,
        *,
        masks: torch.Tensor | None = None,
        presence: torch.Tensor | None = None,
        probe_size: int = 64,
        device: str | torch.device = "cpu",
        progress: bool = True,
        desc: str = "train",
        validation: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> None:
        self.config = config if isinstance(config, ConceptTrainConfig) else ConceptTrainConfig.model_validate(config)
        config = self.config
        self.model, self.x, self.y, self.presence, self.validation = model, x, y, presence, validation
        self.device, self.progress, self.desc = device, progress, desc
        self.biice = model if isinstance(model, BiICEClassifier) else None  # a Bi-ICE head, or a linear/MLP head
        if self.biice is not None and config.expl_weight > 0 and masks is None and presence is None:
            raise ValueError("expl_weight > 0 needs concept masks or concept presence labels")
        if config.patience is not None and validation is None:
            raise ValueError("patience needs validation images")
        self.coverage = None
        if self.biice is not None and config.expl_weight > 0 and masks is not None:
            self.coverage = patch_coverage(masks, self.biice.grid)  # once: (N, L, K) area fractions on the grid
        self.generator = torch.Generator().manual_seed(seed)
        self.optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        steps_per_epoch = math.ceil(len(x) / config.batch_size)
        total, warmup = config.epochs * steps_per_epoch, round(config.warmup_epochs * steps_per_epoch)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda step: _schedule(step, warmup, total))
        self.history = ConceptHistory()
        model.to(device)
        self.probe = x[torch.randperm(len(x), generator=torch.Generator().manual_seed(seed + 1))[:probe_size]]
        self.probe = self.probe.to(device)
        self.snapshot = _slot_snapshot(self.biice, self.probe) if self.biice is not None else None
        self.stopping = _EarlyStopping(config.patience)
        self.epoch = 0  # epochs trained so far
        self.stopped = False  # the stopping rule ended the run

    @property
    def done(self) -> bool:
        """Stopped by the rule or at the schedule's last epoch."""
        return self.stopped or self.epoch >= self.config.epochs

    @property
    def best_validation_accuracy(self) -> float:
        """The best validation accuracy of the epochs trained so far (-1 before the first, or without validation)."""
        return self.stopping.best_accuracy

    def run(self, until: int | None = None) -> None:
        """Train epochs ``epoch + 1`` .. ``until`` (default: the schedule's last), fewer if the stopping rule ends
        the run."""
        last = self.config.epochs if until is None else min(until, self.config.epochs)
        self.model.train()
        epochs = tqdm(range(self.epoch, last), desc=self.desc, disable=not self.progress, leave=False)
        for _ in epochs:
            if self.stopped:
                break
            self._epoch()
            epochs.set_postfix(loss=f"{self.history.loss[-1]:.3f}", acc=f"{self.history.accuracy[-1]:.3f}")

    def _epoch(self) -> None:
        config, history, x, y, device = self.config, self.history, self.x, self.y, self.device
        order = torch.randperm(len(x), generator=self.generator)
        total_loss, total_expl, correct = 0.0, 0.0, 0
        for start in range(0, len(x), config.batch_size):
            index = order[start : start + config.batch_size]
            xb, yb = x[index].to(device), y[index].to(device)
            if self.biice is not None:
                logits, loss, expl = _concept_loss(self.biice, xb, yb, index, config, self.coverage, self.presence)
                total_expl += expl * len(index)
            else:
                logits = self.model(xb)
                loss = F.cross_entropy(logits, yb)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            self.scheduler.step()
            total_loss += float(loss.detach()) * len(index)
            correct += int((logits.argmax(1) == yb).sum())
        self.epoch += 1
        history.loss.append(total_loss / len(x))
        history.accuracy.append(correct / len(x))
        history.expl_loss.append(total_expl / len(x))
        if self.biice is not None and self.snapshot is not None:
            learned, bound = _slot_snapshot(self.biice, self.probe)
            history.slot_drift.append(_relative_change(learned, self.snapshot[0]))
            history.bound_drift.append(_relative_change(bound, self.snapshot[1]))
            self.snapshot = (learned, bound)
        if self.validation is not None:
            history.validation_accuracy.append(_accuracy(self.model, *self.validation, config.batch_size, device))
            self.stopped = self.stopping.stop(self.model, history.validation_accuracy[-1], self.epoch)

    def finish(self) -> ConceptHistory:
        """The stopping rule's best weights restored (with a patience), the model on the CPU in eval mode; the
        history."""
        self.history.best_epoch = self.stopping.restore(self.model)
        self.model.eval().cpu()
        return self.history


def _concept_loss(
    biice: BiICEClassifier,
    xb: torch.Tensor,
    yb: torch.Tensor,
    index: torch.Tensor,
    config: ConceptTrainConfig,
    coverage: torch.Tensor | None,
    presence: torch.Tensor | None,
) -> tuple[torch.Tensor, torch.Tensor, float]:
    """A Bi-ICE batch: (logits, cross-entropy + weighted explanation and sparsity terms, explanation loss)."""
    out = biice.explain(xb)
    loss = F.cross_entropy(out.logits, yb)
    expl_value = 0.0
    if config.expl_weight > 0:
        expl = explanation_loss(
            out.attention,
            None if coverage is None else coverage[index].to(xb.device),
            None if presence is None else presence[index].to(xb.device),
            config.expl_background,
        )
        loss = loss + config.expl_weight * expl
        expl_value = float(expl.detach())
    if config.sparsity_weight > 0:
        loss = loss + config.sparsity_weight * attention_entropy(out.attention)
    return out.logits, loss, expl_value


class _EarlyStopping:
    """The stopping rule: keep the weights of the best validation accuracy (first of equals); stop after
    ``patience`` epochs without a better one (never with ``patience`` None, which keeps the last weights)."""

    def __init__(self, patience: int | None) -> None:
        self.patience = patience
        self.best_accuracy = -1.0
        self.best_epoch = 0
        self.weights: dict[str, torch.Tensor] | None = None

    def stop(self, model: nn.Module, accuracy: float, epoch: int) -> bool:
        if accuracy > self.best_accuracy:
            self.best_accuracy, self.best_epoch = accuracy, epoch
            if self.patience is not None:
                self.weights = {key: value.detach().clone() for key, value in model.state_dict().items()}
            return False
        return self.patience is not None and epoch - self.best_epoch >= self.patience

    def restore(self, model: nn.Module) -> int:
        """Load the best weights (with a patience); the epoch whose weights the model now holds (0: the last)."""
        if self.weights is None:
            return 0
        model.load_state_dict(self.weights)
        return self.best_epoch


@torch.no_grad()
def _accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int, device) -> float:
    model.eval()
    correct = sum(
        int((model(x[i : i + batch_size].to(device)).argmax(1).cpu() == y[i : i + batch_size]).sum())
        for i in range(0, len(x), batch_size)
    )
    model.train()
    return correct / max(1, len(x))
