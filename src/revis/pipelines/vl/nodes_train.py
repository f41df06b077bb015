"""``vl-train``: one encoder per seed, pretrained contrastively on frame/description pairs."""

from __future__ import annotations

from typing import Any

from revis.config.runtime import ComputeParams
from revis.curves import curve_key, log_curve
from revis.datasets.qvhighlights import VideoCorpus, open_corpus
from revis.pipelines.vl.params import TrainParams
from revis.runtime import apply_runtime
from revis.vl.checkpoint import encoder_checkpoint
from revis.vl.config import EncoderConfig, VideoDataParams
from revis.vl.contrastive import PretrainConfig, pretrain_encoder
from revis.vl.pairs import frame_text_pairs
from revis.workers import map_jobs


def pretrain_encoders(
    videos: VideoCorpus,
    seeds: list[int],
    compute: ComputeParams,
    data: VideoDataParams,
    encoder: EncoderConfig,
    train: TrainParams,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``{"config", "seeds", "checkpoints": {"seed<s>": checkpoint}}`` and per-seed loss histories.

    ``kind: clip`` trains nothing: every seed's checkpoint is the local CLIP (its config only).
    """
    apply_runtime(compute.device, compute.threads)
    if encoder.kind == "clip":
        from revis.vl.checkpoint import build_encoder

        built = build_encoder(encoder)  # fails here, clearly, when the folder is not a CLIP model
        checkpoint = encoder_checkpoint(built, encoder, meta={"pretrained": str(encoder.clip_path)})
        bundle = {f"seed{s}": checkpoint for s in seeds}
        return {"config": encoder.model_dump(), "seeds": list(seeds), "checkpoints": bundle}, {}
    corpus = open_corpus(videos, data.root)
    pairs = frame_text_pairs(corpus, data.train_split, data.image_size)
    jobs = [
        (
            encoder.model_dump(),
            pairs,
            PretrainConfig(
                steps=train.steps,
                batch_size=train.batch_size,
                lr=train.lr,
                weight_decay=train.weight_decay,
                warmup=train.warmup,
                seed=seed,
            ),
            compute.device,
        )
        for seed in seeds
    ]
    results = map_jobs(pretrain_encoder, jobs, compute.workers, desc="vl pretraining per seed")
    histories = {f"seed{seed}": history for seed, (_, history) in zip(seeds, results)}
    for seed, history in histories.items():  # curves reach MLflow from this process, also when workers trained
        for step, (loss, temperature) in enumerate(zip(history["loss"], history["temperature"])):
            log_curve({"loss": loss, "temperature": temperature}, step, curve_key("encoder", seed[len("seed") :]))
    checkpoints = {f"seed{seed}": checkpoint for seed, (checkpoint, _) in zip(seeds, results)}
    return {"config": encoder.model_dump(), "seeds": list(seeds), "checkpoints": checkpoints}, histories
