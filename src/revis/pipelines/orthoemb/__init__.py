"""``orthoemb``: zero-shot subject customization with visual pseudo-tokens; orthogonal projection and self-attention swap."""


def create_pipeline(**kwargs):
    """Kedro's pipeline discovery entry; imports the wiring (and its node modules) only when asked."""
    from revis.pipelines.orthoemb.pipeline import create_pipeline as create

    return create(**kwargs)
