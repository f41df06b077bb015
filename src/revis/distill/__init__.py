"""Dataset distillation: Distribution Matching and the shared evaluation protocol."""

from revis.distill.dm import DMResult, class_mean_embedding_loss, distribution_matching, fresh_network
from revis.distill.evaluation import evaluate_protocol, score_models, train_fresh_models

__all__ = [
    "DMResult",
    "class_mean_embedding_loss",
    "distribution_matching",
    "evaluate_protocol",
    "fresh_network",
    "score_models",
    "train_fresh_models",
]
