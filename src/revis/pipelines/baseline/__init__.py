"""``baseline``: the DC-style ConvNet trained on shapes and digits (the spine's end-to-end proof)."""


def create_pipeline(**kwargs):
    """Kedro's pipeline discovery entry; imports the wiring (and its node modules) only when asked."""
    from revis.pipelines.baseline.pipeline import create_pipeline as create

    return create(**kwargs)
