"""Dataset distillation: Distribution Matching and the evaluation protocol, as in the DC/DM reference code."""

from revis.distill.config import DMConfig, EvalProtocol
from revis.distill.dm import DMResult, class_mean_embedding_loss, distribution_matching, fresh_network, initial_images
from revis.distill.evaluation import load_network, score, train_networks, train_on_set

__all__ = [
    "DMConfig",
    "DMResult",
    "EvalProtocol",
    "class_mean_embedding_loss",
    "distribution_matching",
    "fresh_network",
    "initial_images",
    "load_network",
    "score",
    "train_networks",
    "train_on_set",
]
