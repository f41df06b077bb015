"""``baseline``: the DC-style ConvNet trained on shapes and digits (the spine's end-to-end proof)."""

from revis.pipelines.baseline.pipeline import create_pipeline

__all__ = ["create_pipeline"]
