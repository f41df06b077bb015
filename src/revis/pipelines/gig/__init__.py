"""``gig``: concept vectors from PFVs and the Generalized Integrated Gradients pathway between layers (arXiv 2409.01610)."""


def create_pipeline(**kwargs):
    """Kedro's pipeline discovery entry; imports the wiring (and its node modules) only when asked."""
    from revis.pipelines.gig.pipeline import create_pipeline as create

    return create(**kwargs)
