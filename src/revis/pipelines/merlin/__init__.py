"""``merlin``: training-free interactive text-video retrieval (questioner, simulated user, SLERP query updates)."""


def create_pipeline(**kwargs):
    """Kedro's pipeline discovery entry; imports the wiring (and its node modules) only when asked."""
    from revis.pipelines.merlin.pipeline import create_pipeline as create

    return create(**kwargs)
