"""3-D tubelet tokenizer: clips -> one token per non-overlapping (time x height x width) tube."""

from __future__ import annotations

import torch
from torch import nn

from openjepa.modalities.patches import patch_tokens


class TubeletEmbed3d(nn.Module):
    """``(B, C, T, H, W) -> (B, N, D)`` with ``N = (T / t) * (H / p) * (W / p)`` in raster order (t, h, w).

    ``t`` is the tubelet length in frames (V-JEPA uses 2), ``p`` the patch side. A clip shorter
    than one tubelet (an image as a 1-frame clip) is tiled in time to fill it, as V-JEPA 2 does.
    """

    def __init__(self, in_chans: int, dim: int, patch_size: int, tubelet: int):
        super().__init__()
        self.in_chans = in_chans
        self.patch_size = patch_size
        self.tubelet = tubelet
        self.proj = nn.Conv3d(in_chans, dim, kernel_size=(tubelet, patch_size, patch_size),
                              stride=(tubelet, patch_size, patch_size))

    def grid(self, frames: int, height: int, width: int) -> tuple[int, int, int]:
        """Token grid of a clip of the given size; raises if the size does not fit the tubelet."""
        p, t = self.patch_size, self.tubelet
        frames = max(frames, t) if frames < t and t % frames == 0 else frames
        if frames % t or height % p or width % p:
            raise ValueError(f"clip size {frames}x{height}x{width} (frames x H x W) is not a multiple of the "
                             f"tubelet {t}x{p}x{p}")
        return frames // t, height // p, width // p

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        if clips.ndim != 5 or clips.shape[1] != self.in_chans:
            raise ValueError(f"expected clips of shape (B, {self.in_chans}, T, H, W), got {tuple(clips.shape)}")
        self.grid(*clips.shape[2:])
        if clips.shape[2] < self.tubelet:
            clips = clips.repeat(1, 1, self.tubelet // clips.shape[2], 1, 1)
        return patch_tokens(clips, self.proj)
