"""Differentiable image augmentation (DSA-style), shared by dataset distillation and DeepKKT."""

from revis.augment.differentiable import OPS, AugmentDraw, DiffAugment

__all__ = ["OPS", "AugmentDraw", "DiffAugment"]
