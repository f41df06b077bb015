"""Alias kept for branches started before the move: use ``revis.catalog.caption_world``."""

from revis.catalog.caption_world import CaptionWorldDataset

__all__ = ["CaptionWorldDataset"]
