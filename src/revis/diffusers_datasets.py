"""Alias kept for branches started before the move: use ``revis.catalog.diffusers_folder``."""

from revis.catalog.diffusers_folder import DiffusersFolderDataset

__all__ = ["DiffusersFolderDataset"]
