"""``lada``: semi-supervised domain adaptation for wildfire smoke detection (Jang et al., arXiv 2404.01842)."""


def create_pipeline(**kwargs):
    """Kedro's pipeline discovery entry; imports the wiring (and its node modules) only when asked."""
    from revis.pipelines.lada.pipeline import create_pipeline as create

    return create(**kwargs)
