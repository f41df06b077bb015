"""``hlclip-train``: fine-tune each seed's vl encoder, last two blocks vs every block, on the training queries."""

from __future__ import annotations

import functools
from typing import Any

from revis.curves import curve_key, log_curve
from revis.datasets.qvhighlights import VideoCorpus, open_corpus
from revis.highlights.hlclip import FinetuneConfig, finetune_checkpoint
from revis.pipelines.hlclip.params import DataParams, TrainParams
from revis.runtime import apply_runtime
from revis.workers import map_jobs


def finetune_encoders(
    encoders: dict[str, Any], videos: VideoCorpus, data: DataParams, train: TrainParams
) -> tuple[dict[str, Any], dict[str, list[float]]]:
    """``{"arms", "seeds", "checkpoints": {"<arm>/seed<s>": checkpoint}, "trainable"}`` and the MSE histories."""
    missing = [s for s in train.seeds if f"seed{s}" not in encoders["checkpoints"]]
    if missing:
        raise ValueError(f"hlclip.train.seeds {missing} have no vl encoder: add them to vl.train.seeds")
    apply_runtime(train.device, 1)
    corpus = open_corpus(videos, data.root)
    queries = corpus.labelled(data.train_split)
    frames = functools.partial(corpus.frames, image_size=data.image_size)
    arms: dict[str, int | None] = {f"last{train.last_layers}": train.last_layers}
    if train.full:
        arms["full"] = None
    jobs, names = [], []
    for arm, last_layers in arms.items():
        for seed in train.seeds:
            config = FinetuneConfig(
                last_layers=last_layers,
                steps=train.steps,
                videos_per_batch=train.videos_per_batch,
                frames_per_video=train.frames_per_video,
                lr=train.lr,
                weight_decay=train.weight_decay,
                normalisation=train.normalisation,
                train_tables=last_layers is None and train.full_tables,
                cache_prefix=train.cache_prefix,
                seed=seed,
            )
            jobs.append((encoders["checkpoints"][f"seed{seed}"], frames, queries, config, train.device))
            names.append(f"{arm}/seed{seed}")
    results = map_jobs(finetune_checkpoint, jobs, train.workers, desc="HL-CLIP fine-tuning per arm x seed")
    histories = {name: result["loss"] for name, (_, result) in zip(names, results)}
    for name, losses in histories.items():
        for step, loss in enumerate(losses):
            log_curve({"mse": loss}, step, curve_key(*name.split("/seed")))
    trainable = {name.split("/")[0]: result["trainable"] for name, (_, result) in zip(names, results)}
    models = {
        "arms": {arm: last_layers for arm, last_layers in arms.items()},
        "seeds": list(train.seeds),
        "normalisation": train.normalisation,
        "checkpoints": {name: checkpoint for name, (checkpoint, _) in zip(names, results)},
        "trainable": trainable,
    }
    return models, histories
