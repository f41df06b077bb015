"""``hlclip``: HL-CLIP highlight detection -- last-two-layer fine-tuning of a dual encoder, saliency pooling."""


def create_pipeline(**kwargs):
    """Kedro's pipeline discovery entry; imports the wiring (and its node modules) only when asked."""
    from revis.pipelines.hlclip.pipeline import create_pipeline as create

    return create(**kwargs)
