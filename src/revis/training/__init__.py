"""Seeded classifier training (single process or DDP under torchrun) and evaluation."""

from revis.training.trainer import (
    TrainConfig,
    TrainHistory,
    accuracy,
    load_checkpoint,
    predict_logits,
    train_classifier,
)

__all__ = ["TrainConfig", "TrainHistory", "accuracy", "load_checkpoint", "predict_logits", "train_classifier"]
