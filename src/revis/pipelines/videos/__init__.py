"""``videos``: the mini world's videos in the QVHighlights format (queries, saliency, captions, families)."""


def create_pipeline(**kwargs):
    """Kedro's pipeline discovery entry; imports the wiring (and its node modules) only when asked."""
    from revis.pipelines.videos.pipeline import create_pipeline as create

    return create(**kwargs)
