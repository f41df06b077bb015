"""``t2i``: a small text-to-image diffusion model of the caption world, with its judge (foundation of whitebear, orthoemb)."""


def create_pipeline(**kwargs):
    """Kedro's pipeline discovery entry; imports the wiring (and its node modules) only when asked."""
    from revis.pipelines.t2i.pipeline import create_pipeline as create

    return create(**kwargs)
