"""Learning curves of the gate fidelities, measured during training: at every checkpoint the EMA weights draw one
image per held-out caption of a small probe set, the judge reads them, and the hit rates of positions, shapes and
counts (against shuffled captions on the same images) become one row of a DVC plot.

A small probe set (``t2i.train.curve.captions``) keeps it cheap; its rates are noisier than ``t2i-evaluate``'s,
whose final numbers decide the gates. The curve shows whether the step budget sits on a plateau or a slope.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from revis.diffusion.evaluation import judged_fidelity, rate
from revis.diffusion.pipeline import MiniT2IPipeline
from revis.diffusion.unet import sampling_scheduler, training_scheduler
from revis.world.captions import CaptionRecord

# curve column per gate aspect (DVC plot columns: no dots)
CURVE_COLUMNS = {"regions": "positions", "shapes": "shapes", "count": "count"}


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
    """``on_checkpoint(step, ema_unet)`` for ``train_denoiser``: appends a ``curve_row`` per call to ``rows``.

    ``spec``: the model's noise schedule and sampler (``revis.diffusion.models.ModelSpec``); ``sampling``: the
    keywords of ``judged_fidelity`` (``seed``, ``steps``, ``guidance_scale``, ``batch_size``)."""

    judge: Any
    records: list[CaptionRecord]
    encoder: Any  # revis.diffusion.text.TextEncoder
    spec: Any
    sampling: dict[str, Any]
    rows: list[dict[str, Any]] = field(default_factory=list)

    def __call__(self, step: int, unet: Any) -> None:
        scheduler = training_scheduler(self.spec.num_train_timesteps, self.spec.beta_schedule)
        pipe = MiniT2IPipeline(
            unet, sampling_scheduler(scheduler, self.spec.sampler), self.encoder.model, self.encoder.tokenizer
        )
        self.rows.append(curve_row(step, judged_fidelity(pipe, self.judge, self.records, **self.sampling)))
