"""``biice``: concept-based classification with the Bi-ICE head against linear and MLP heads (arXiv 2411.18645)."""


def create_pipeline(**kwargs):
    """Kedro's pipeline discovery entry; imports the wiring (and its node modules) only when asked."""
    from revis.pipelines.biice.pipeline import create_pipeline as create

    return create(**kwargs)
