"""``world``: generate the mini world (shapes, detection scenes) and ingest sklearn digits."""

from revis.pipelines.world.pipeline import create_pipeline

__all__ = ["create_pipeline"]
