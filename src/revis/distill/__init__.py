"""Dataset distillation: Distribution Matching and the evaluation protocol, as in the DC/DM reference code.

Names resolve lazily (PEP 562), so that importing the torch-free schemas in
``revis.distill.config`` (params validation, every stage's start-up) does not import torch.
"""

from revis.lazy import lazy_getattr

_WHERE = {
    "DMConfig": "config",
    "EvalProtocol": "config",
    "DMResult": "dm",
    "class_mean_embedding_loss": "dm",
    "distribution_matching": "dm",
    "fresh_network": "dm",
    "initial_images": "dm",
    "load_network": "evaluation",
    "score": "evaluation",
    "train_networks": "evaluation",
    "train_on_set": "evaluation",
}

__all__ = list(_WHERE)

__getattr__ = lazy_getattr(__name__, _WHERE)
