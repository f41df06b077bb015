"""``gig``: dataset-wide concept pathways — PFVs, gradient ERFs, concept vectors and GIG (arXiv 2409.01610)."""

from revis.pipelines.gig.pipeline import create_pipeline

__all__ = ["create_pipeline"]
