"""Readers (and the mini world's writers) for the real on-disk formats the papers use."""

from revis.datasets.imageset import DataError, ImageSet

__all__ = ["DataError", "ImageSet"]
