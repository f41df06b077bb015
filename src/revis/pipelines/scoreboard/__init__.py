"""``scoreboard``: reports/SCOREBOARD.md from every pipeline's claims and metrics."""

from revis.pipelines.scoreboard.pipeline import create_pipeline

__all__ = ["create_pipeline"]
