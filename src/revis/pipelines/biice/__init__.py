"""``biice``: concept-based classification with the Bi-ICE head on the shapes world (paper: arXiv 2411.18645)."""

from revis.pipelines.biice.pipeline import create_pipeline

__all__ = ["create_pipeline"]
