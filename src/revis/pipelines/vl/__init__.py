"""``vl``: a LiT-style vision-language encoder pretrained on the video world (or a local CLIP at paper scale)."""


def create_pipeline(**kwargs):
    """Kedro's pipeline discovery entry; imports the wiring (and its node modules) only when asked."""
    from revis.pipelines.vl.pipeline import create_pipeline as create

    return create(**kwargs)
