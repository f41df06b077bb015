"""Image files in, uint8 RGB arrays out; an unreadable file is an error that names it."""

from __future__ import annotations

import os

import numpy as np
from PIL import Image, UnidentifiedImageError

from revis.datasets.imageset import DataError


def load_image(path: str | os.PathLike) -> np.ndarray:
    """Decode an image file to a uint8 (H, W, 3) RGB array."""
    try:
        with Image.open(path) as image:
            image.load()
            return np.asarray(image.convert("RGB"), dtype=np.uint8)
    except FileNotFoundError:
        raise DataError(f"missing image file {path}") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise DataError(f"corrupt or unreadable image file {path}: {exc}") from exc
