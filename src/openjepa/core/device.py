"""Choosing the device once, for training, evaluation and planning alike."""

from __future__ import annotations

import torch


def pick_device(name: str, local_rank: int = 0) -> torch.device:
    """``auto`` (CUDA when available), ``cpu``, ``cuda`` (the process's local GPU) or any torch device name."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError("train.device=cuda but no CUDA device is available")
        return torch.device("cuda", local_rank)
    return torch.device(name)
