"""Where torch computes: device choice and CPU threads, set once per node from params."""

from __future__ import annotations

import torch


def apply_runtime(device: str = "cpu", threads: int | None = None) -> torch.device:
    """Set torch's CPU intra-op threads and resolve ``device`` ('auto' = CUDA when present)."""
    if threads is not None:
        torch.set_num_threads(threads)
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("runtime.device is 'cuda' but no CUDA device is available")
    return torch.device(device)
