"""DeepKKT (Deep Support Vectors): the KKT conditions of a trained classifier, its multipliers, synthesis."""

from revis.kkt.deepkkt import (
    DeepKKT,
    KKTState,
    KKTWeights,
    Multipliers,
    fit_scale,
    norm_prior,
    predictive_entropy,
    primal_loss,
    stationarity_loss,
    tv_prior,
)
from revis.kkt.gradients import per_sample_grads, per_sample_grads_loop
from revis.kkt.real import RealMultipliers, random_per_class, real_multipliers, top_lambda_per_class
from revis.kkt.synthesis import Synthesis, noise_candidates, synthesize

__all__ = [
    "DeepKKT",
    "KKTState",
    "KKTWeights",
    "Multipliers",
    "RealMultipliers",
    "Synthesis",
    "fit_scale",
    "noise_candidates",
    "norm_prior",
    "per_sample_grads",
    "per_sample_grads_loop",
    "predictive_entropy",
    "primal_loss",
    "random_per_class",
    "real_multipliers",
    "stationarity_loss",
    "synthesize",
    "top_lambda_per_class",
    "tv_prior",
]
