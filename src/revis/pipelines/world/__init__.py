"""``world``: generate the mini world (shapes, detection scenes) and ingest sklearn digits."""


def create_pipeline(**kwargs):
    """Kedro's pipeline discovery entry; imports the wiring (and its node modules) only when asked."""
    from revis.pipelines.world.pipeline import create_pipeline as create

    return create(**kwargs)
