"""Concept-based classification: the Bi-ICE head, its concept losses, training and evaluation."""

from revis.concepts.biice import BiICEClassifier, BiICEHead, BiICEOutput, Broadcast, ComputeLogit, ConceptBinding
from revis.concepts.losses import attention_entropy, explanation_loss, patch_coverage
from revis.concepts.training import ConceptHistory, ConceptTrainConfig, train_concept_classifier

__all__ = [
    "BiICEClassifier",
    "BiICEHead",
    "BiICEOutput",
    "Broadcast",
    "ComputeLogit",
    "ConceptBinding",
    "ConceptHistory",
    "ConceptTrainConfig",
    "attention_entropy",
    "explanation_loss",
    "patch_coverage",
    "train_concept_classifier",
]
