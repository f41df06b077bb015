"""``dsv``: Deep Support Vectors (Lee et al., NeurIPS 2024) on digits and the shapes world."""


def create_pipeline(**kwargs):
    """Kedro's pipeline discovery entry; imports the wiring (and its node modules) only when asked."""
    from revis.pipelines.dsv.pipeline import create_pipeline as create

    return create(**kwargs)
