"""Kedro dataset classes used in ``conf/base/catalog*``; all writes are atomic."""

from revis.catalog.datasets import (
    CifarFolderDataset,
    FigureDataset,
    ImageSetsDataset,
    JsonDataset,
    MetricsDataset,
    TableDataset,
    TextDataset,
    TorchDataset,
    VocFolderDataset,
)

__all__ = [
    "CifarFolderDataset",
    "FigureDataset",
    "ImageSetsDataset",
    "JsonDataset",
    "MetricsDataset",
    "TableDataset",
    "TextDataset",
    "TorchDataset",
    "VocFolderDataset",
]
