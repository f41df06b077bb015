"""``hlclip-train``: fine-tune each seed's vl encoder, last two blocks vs every block, on the training queries."""

from __future__ import annotations

import functools
from typing import Any

from revis.config.runtime import ComputeParams
from revis.datasets.qvhighlights import VideoCorpus, open_corpus
from revis.highlights.hlclip import FinetuneConfig
from revis.highlights.runs import arms_to_tune, finetune_runs
from revis.pipelines.hlclip.params import TrainParams
from revis.runtime import apply_runtime
from revis.vl.checkpoint import EncoderBundle
from revis.vl.config import VideoDataParams


def finetune_encoders(
    encoders: EncoderBundle,
    videos: VideoCorpus,
    seeds: list[int],
    compute: ComputeParams,
    data: VideoDataParams,
    train: TrainParams,
) -> tuple[dict[str, Any], dict[str, list[float]]]:
    """The fine-tuned runs (``FinetunedModels``, as persisted) and the MSE histories."""
    missing = [s for s in seeds if f"seed{s}" not in encoders["checkpoints"]]
    if missing:
        raise ValueError(f"hlclip.seeds {missing} have no vl encoder: add them to vl.seeds")
    apply_runtime(compute.device, compute.threads)
    corpus = open_corpus(videos, data.root)
    base = FinetuneConfig(
        steps=train.steps,
        videos_per_batch=train.videos_per_batch,
        frames_per_video=train.frames_per_video,
        lr=train.lr,
        weight_decay=train.weight_decay,
        normalisation=train.normalisation,
        cache_prefix=train.cache_prefix,
    )
    models, histories = finetune_runs(
        arms_to_tune(train.last_layers, train.full),
        seeds,
        base,
        train.full_tables,
        encoders["checkpoints"],
        functools.partial(corpus.frames, image_size=data.image_size),
        corpus.labelled(data.train_split),
        compute.device,
        compute.workers,
    )
    return models.to_file(), histories
