"""``dkkt``: dataset distillation from partial data with a Deep-KKT loss on DM (Lee et al., 2024)."""


def create_pipeline(**kwargs):
    """Kedro's pipeline discovery entry; imports the wiring (and its node modules) only when asked."""
    from revis.pipelines.dkkt.pipeline import create_pipeline as create

    return create(**kwargs)
