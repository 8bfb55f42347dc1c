"""2-D patch tokenizer: images -> one token per non-overlapping patch."""

from __future__ import annotations

import torch
from torch import nn


class PatchEmbed2d(nn.Module):
    """``(B, C, H, W) -> (B, N, D)`` with ``N = (H / p) * (W / p)`` in raster order."""

    def __init__(self, in_chans: int, dim: int, patch_size: int):
        super().__init__()
        self.in_chans = in_chans
        self.patch_size = patch_size
        self.proj = nn.Conv2d(in_chans, dim, kernel_size=patch_size, stride=patch_size)

    def grid(self, height: int, width: int) -> tuple[int, int]:
        """Token grid of an image of the given size; raises if the size does not fit the patch."""
        p = self.patch_size
        if height % p or width % p:
            raise ValueError(f"image size {height}x{width} is not a multiple of the patch size {p}")
        return height // p, width // p

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.ndim != 4 or images.shape[1] != self.in_chans:
            raise ValueError(
                f"expected images of shape (B, {self.in_chans}, H, W), got {tuple(images.shape)}"
            )
        self.grid(images.shape[2], images.shape[3])
        return self.proj(images).flatten(2).transpose(1, 2)
