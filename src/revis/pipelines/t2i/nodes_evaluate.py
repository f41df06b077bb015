"""``t2i-evaluate``: judge-measured prompt fidelity on held-out captions (against shuffled captions and real images), samples."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from revis.diffusion.evaluation import judged_fidelity, per_seed_fidelity
from revis.diffusion.generate import generate
from revis.diffusion.pictures import loss_curve, sample_grid
from revis.pipelines.t2i.params import EvaluateParams, RuntimeParams
from revis.reporting.summary import proportion
from revis.runtime import apply_runtime
from revis.world.captions import ABSTRACT_WORDS
from revis.world.fidelity import caption_fidelity
from revis.world.judge import judge_images, judge_report, load_judge


def evaluate_t2i(
    model: Any,
    replicates: dict[str, Any],
    captions: dict[str, Any],
    judge_state: dict[str, Any],
    history: dict[str, Any],
    evaluate: EvaluateParams,
    runtime: RuntimeParams,
) -> tuple[dict[str, Any], plt.Figure, plt.Figure]:
    """Fidelity per aspect (``t2i.model`` vs shuffled captions vs real images), fidelity per model seed (the gates:
    ``t2i.model`` and every replicate, each against shuffled captions), the judge's accuracy, samples, the loss curve."""
    apply_runtime(runtime.device, runtime.threads)
    judge = load_judge(judge_state)
    test = captions["test"]
    n = min(evaluate.n_captions, len(test))
    records = test.records[:n]
    sampling = dict(seed=evaluate.seed, steps=evaluate.steps, guidance_scale=evaluate.guidance_scale)
    models = {int(model.config.seed or 0): model, **{int(s): m for s, m in replicates.items()}}
    by_seed = {
        s: judged_fidelity(m, judge, records, batch_size=evaluate.batch_size, **sampling) for s, m in models.items()
    }
    measured = {**by_seed[int(model.config.seed or 0)]}
    measured["real_images"] = caption_fidelity(judge_images(judge, test.images[:n]), records)
    fidelity = {
        aspect: {source: proportion(*counts[aspect]) for source, counts in measured.items()}
        for aspect in measured["model"]
        if measured["model"][aspect][1] > 0
    }
    losses = history["loss"]
    size = test.images.shape[1]
    metrics = {
        "scale": (
            f"caption world {size} px, {history['images']} training scenes ({history['distinct_captions']} distinct captions); "
            f"UNet2DConditionModel {history['parameters'] / 1e6:.2f} M parameters on frozen MiniLM token states, "
            f"{len(losses)} steps trained here on CPU ({len(models)} training seeds); {n} held-out captions, one image "
            f"each, {evaluate.steps} sampler steps, guidance {evaluate.guidance_scale}"
        ),
        "judge": {k: _without_per_object(v) for k, v in judge_report(judge, test).items()},
        "fidelity": fidelity,
        "fidelity_per_seed": per_seed_fidelity(by_seed),
        "training": {"steps": len(losses), "final_loss": float(np.mean(losses[-50:]))},
    }
    grid = _grid(model, records, test, evaluate)
    return metrics, grid, loss_curve(losses, f"t2i: training loss ({len(losses)} steps)")


def _grid(model: Any, records: list, test: Any, evaluate: EvaluateParams) -> plt.Figure:
    """Rows: each abstract word alone, then held-out captions (with their real image first); columns: samples."""
    words = [f"a {w} scene" for w in ABSTRACT_WORDS]
    described = [r for r in records if r.form != "abstract"][: max(0, evaluate.grid_rows - len(words))]
    prompts = words + [r.caption for r in described]
    images = generate(
        model,
        prompts,
        seed=evaluate.seed + 1,
        images_per_prompt=evaluate.grid_images,
        steps=evaluate.steps,
        guidance_scale=evaluate.guidance_scale,
        batch_size=evaluate.batch_size,
    )
    k = evaluate.grid_images
    rows = [(p, images[i * k : (i + 1) * k]) for i, p in enumerate(prompts)]
    keys = {r.key: i for i, r in enumerate(test.records)}
    reference = [None] * len(words) + [test.images[keys[r.key]] for r in described]
    return sample_grid(
        rows, "t2i samples: abstract words alone, then held-out captions (first column: the real scene)", reference
    )


def _without_per_object(report: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in report.items() if k != "per_object"}
