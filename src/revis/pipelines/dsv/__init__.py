"""``dsv``: Deep Support Vectors (Lee et al., NeurIPS 2024) on digits and the shapes world."""

from revis.pipelines.dsv.pipeline import create_pipeline

__all__ = ["create_pipeline"]
