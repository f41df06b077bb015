"""Learning curves of the gate fidelities, measured during training: at every checkpoint the EMA weights draw one
image per held-out caption of a small probe set, the judge reads them, and the hit rates of positions, shapes and
counts (against shuffled captions on the same images) become one row of a DVC plot.

A small probe set (``t2i.train.curve.captions``) keeps it cheap; its rates are noisier than ``t2i-evaluate``'s,
whose final numbers decide the gates. The curve shows whether the step budget sits on a plateau or a slope.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from revis.diffusion.evaluation import judged_fidelity, rate
from revis.diffusion.pipeline import MiniT2IPipeline
from revis.diffusion.unet import sampling_scheduler, training_scheduler
from revis.workers import run_threads
from revis.world.captions import CaptionRecord

# curve column per gate aspect (DVC plot columns: no dots)
CURVE_COLUMNS = {"placement": "positions", "shapes": "shapes", "count": "count"}  # positions: the gate's placement


def curve_row(step: int, measured: dict[str, Any]) -> dict[str, Any]:
    """One point: per gate aspect the model's hit rate and the shuffled captions' (``<aspect>_shuffled``); the
    columns of the catalog's ``t2i.curve_fidelity`` (a DVC plot refuses undeclared ones)."""
    row: dict[str, Any] = {"step": step}
    for aspect, column in CURVE_COLUMNS.items():
        row[column] = round(rate(measured["model"][aspect]), 4)
        row[f"{column}_shuffled"] = round(rate(measured["shuffled_captions"][aspect]), 4)
    return row


@dataclass
class FidelityCurve:
    """``on_checkpoint(step, ema_unet)`` for ``train_denoiser``: a ``curve_row`` per call in ``rows``.

    ``spec``: the model's noise schedule and sampler (``revis.diffusion.models.ModelSpec``); ``sampling``: the
    keywords of ``judged_fidelity`` (``seed``, ``steps``, ``guidance_scale``, ``batch_size``). ``defer``: a call
    only keeps a copy of the weights, and ``flush`` measures every kept checkpoint at once, one thread each (the
    training thread does not fall behind the other seeds' and leave a core idle at the end); the rows are the same.
    """

    judge: Any
    records: list[CaptionRecord]
    encoder: Any  # revis.diffusion.text.TextEncoder
    spec: Any
    sampling: dict[str, Any]
    rows: list[dict[str, Any]] = field(default_factory=list)
    defer: bool = False
    pending: list[tuple[int, Any]] = field(default_factory=list)

    def __call__(self, step: int, unet: Any) -> None:
        if self.defer:
            self.pending.append((step, copy.deepcopy(unet)))
            return
        self.rows.append(curve_row(step, self.measure(unet)))

    def measure(self, unet: Any) -> dict[str, Any]:
        """``judged_fidelity`` of ``unet`` with the text encoder, schedule and sampler of the trained model."""
        scheduler = training_scheduler(self.spec.num_train_timesteps, self.spec.beta_schedule)
        pipe = MiniT2IPipeline(
            unet, sampling_scheduler(scheduler, self.spec.sampler), self.encoder.model, self.encoder.tokenizer
        )
        return judged_fidelity(pipe, self.judge, self.records, **self.sampling)

    def flush(self, device: Any = "cpu") -> None:
        """Measure the kept checkpoints (``defer``), concurrently on CPU (``run_threads``); rows in step order."""
        pending, self.pending = sorted(self.pending, key=lambda kept: kept[0]), []
        measured = run_threads(self.measure, [(unet,) for _, unet in pending], device)
        self.rows.extend(curve_row(step, m) for (step, _), m in zip(pending, measured, strict=True))
