"""``dkkt``: dataset distillation from partial data with a Deep-KKT loss (Lee et al., 2024) on DM."""

from revis.pipelines.dkkt.pipeline import create_pipeline

__all__ = ["create_pipeline"]
