"""Readers (and the mini world's writers) for the real on-disk formats the papers use.

Names resolve on first use (``revis.lazy``): importing one reader (``revis.datasets.voc``) does not
import torch through ``revis.datasets.imageset``.
"""

from revis.lazy import lazy_getattr

_WHERE = {"DataError": "imageset", "ImageSet": "imageset"}
__all__ = sorted(_WHERE)
__getattr__ = lazy_getattr(__name__, _WHERE)
