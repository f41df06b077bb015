"""``t2i-evaluate``: judge-measured prompt fidelity on held-out captions (against shuffled captions and real images), samples."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt

from revis.config.runtime import ComputeParams
from revis.diffusion.evaluation import T2IMetrics, judge_on_redenoised, judged_fidelity_per_seed, t2i_metrics
from revis.diffusion.pictures import loss_curve, t2i_samples
from revis.pipelines.t2i.params import EvaluateParams
from revis.runtime import apply_runtime
from revis.world.fidelity import caption_fidelity
from revis.world.judge import judge_images, judge_report, load_judge


def report_metrics(
    model: Any,
    replicates: dict[str, Any],
    captions: dict[str, Any],
    judge_state: dict[str, Any],
    history: dict[str, Any],
    evaluate: EvaluateParams,
    compute: ComputeParams,
) -> tuple[T2IMetrics, plt.Figure, plt.Figure]:
    """Fidelity per aspect (``t2i.model`` vs shuffled captions vs real images), fidelity per model seed (the gates:
    ``t2i.model`` and every replicate, each against shuffled captions), the judge's accuracy, samples, the loss curve."""
    apply_runtime(compute.device, compute.threads)
    judge = load_judge(judge_state)
    test = captions["test"]
    n = min(evaluate.n_captions, len(test))
    records = test.records[:n]
    sampling = evaluate.sampling()
    models = {(main_seed := int(model.config.seed or 0)): model, **{int(s): m for s, m in replicates.items()}}
    by_seed = judged_fidelity_per_seed(models, judge, records, seed=evaluate.seed, **sampling)
    real_images = caption_fidelity(judge_images(judge, test.images[:n]), records)
    redenoised = judge_on_redenoised(
        model,
        judge,
        test,
        evaluate.redenoise_images,
        strength=evaluate.redenoise_strength,
        threshold=evaluate.reject_threshold,
        seed=evaluate.seed,
        **sampling,
    )
    metrics = t2i_metrics(
        by_seed,
        main_seed,
        real_images,
        {**judge_report(judge, test), "redenoised": redenoised},
        history,
        image_size=test.images.shape[1],
        n_captions=n,
        steps=evaluate.steps,
        guidance_scale=evaluate.guidance_scale,
    )
    grid = t2i_samples(
        model,
        records,
        test,
        rows=evaluate.grid_rows,
        images_per_row=evaluate.grid_images,
        seed=evaluate.seed + 1,
        **sampling,
    )
    return metrics, grid, loss_curve(history["loss"], f"t2i: training loss ({metrics.training['steps']} steps)")
