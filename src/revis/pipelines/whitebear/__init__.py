"""``whitebear``: "Do not think about pink elephant!" (arXiv 2404.15154) on the mini world's text-to-image model."""


def create_pipeline(**kwargs):
    """Kedro's pipeline discovery entry; imports the wiring (and its node modules) only when asked."""
    from revis.pipelines.whitebear.pipeline import create_pipeline as create

    return create(**kwargs)
