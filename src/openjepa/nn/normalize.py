"""Per-channel input normalisation."""

from __future__ import annotations

import torch
from torch import nn


class Normalize(nn.Module):
    """Per-channel ``(x - mean) / std`` for images ``(B, C, H, W)`` or clips ``(B, C, T, H, W)`` in [0, 1]."""

    def __init__(self, mean: list[float], std: list[float]):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32), persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = (1, -1) + (1,) * (x.ndim - 2)
        return (x - self.mean.view(shape)) / self.std.view(shape)
