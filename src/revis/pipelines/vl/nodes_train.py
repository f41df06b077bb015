"""``vl-train``: one encoder per seed, pretrained contrastively on frame/description pairs."""

from __future__ import annotations

from revis.config.runtime import ComputeParams
from revis.datasets.qvhighlights import VideoCorpus, open_corpus
from revis.pipelines.vl.params import TrainParams
from revis.runtime import apply_runtime
from revis.vl.checkpoint import EncoderBundle, encoder_checkpoint
from revis.vl.config import EncoderConfig, VideoDataParams
from revis.vl.contrastive import PretrainConfig, pretrain_seeds
from revis.vl.pairs import concat_pairs, frame_text_pairs
from revis.world.videos import pretraining_world


def pretrain_encoders(
    videos: VideoCorpus,
    seeds: list[int],
    compute: ComputeParams,
    data: VideoDataParams,
    encoder: EncoderConfig,
    train: TrainParams,
) -> tuple[EncoderBundle, dict[str, dict[str, list[float]]]]:
    """``{"config", "seeds", "checkpoints": {"seed<s>": checkpoint}}`` and per-seed loss histories.

    ``kind: clip`` trains nothing: every seed's checkpoint is the local CLIP (its config only).
    """
    apply_runtime(compute.device, compute.threads)
    if encoder.kind == "clip":
        from revis.vl.checkpoint import build_encoder

        built = build_encoder(encoder)  # fails here, clearly, when the folder is not a CLIP model
        checkpoint = encoder_checkpoint(built, encoder, meta={"pretrained": str(encoder.clip_path)})
        bundle = {f"seed{s}": checkpoint for s in seeds}
        return EncoderBundle(config=encoder.model_dump(), seeds=list(seeds), checkpoints=bundle), {}
    corpus = open_corpus(videos, data.root)
    pairs = frame_text_pairs(corpus, data.train_split, data.image_size, train.partial_texts)
    if train.world is not None and not data.root:  # a world of its own (all of it "train"), + the split or not
        world = pretraining_world(train.world.seed, train.world.n_families, train.world.vocabulary)
        own = frame_text_pairs(world, "train", data.image_size, train.partial_texts)
        pairs = concat_pairs([own, pairs]) if train.world.include_train_split else own
    base = PretrainConfig(
        steps=train.steps,
        batch_size=train.batch_size,
        lr=train.lr,
        weight_decay=train.weight_decay,
        warmup=train.warmup,
    )
    return pretrain_seeds(encoder, pairs, seeds, base, compute.device, compute.workers)
