"""Optical-flow operations on feature maps (MC-JEPA's flow head and losses): backward warping by a flow field and
a local correlation volume.

Flow ``(B, 2, H, W)`` holds, at each pixel (or feature cell) p of the first map, the displacement (dx, dy) in
pixels (cells) to where p went in the second map: the second map warped by it lines up with the first.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def pixel_grid(height: int, width: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """Pixel coordinates ``(1, 2, H, W)``: x (column) then y (row)."""
    ys, xs = torch.meshgrid(torch.arange(height, device=device, dtype=torch.float32),
                            torch.arange(width, device=device, dtype=torch.float32), indexing="ij")
    return torch.stack([xs, ys])[None]


def warp(x: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """``x (B, C, H, W)`` sampled at ``p + flow(p)`` (bilinear; outside the map: the border value):
    ``(B, C, H, W)``."""
    B, _, H, W = x.shape
    where = pixel_grid(H, W, x.device) + flow.float()
    # grid_sample's coordinates: -1 and 1 are the centres of the outer pixels with align_corners=True
    norm = torch.stack([2 * where[:, 0] / max(W - 1, 1) - 1, 2 * where[:, 1] / max(H - 1, 1) - 1], dim=-1)
    return F.grid_sample(x.float(), norm, mode="bilinear", padding_mode="border", align_corners=True).to(x.dtype)


def correlation(first: torch.Tensor, second: torch.Tensor, radius: int) -> torch.Tensor:
    """Cost volume: the mean over channels of ``first(p) * second(p + d)`` for every offset d in
    ``[-radius, radius]^2`` (rows of dy, then dx): ``(B, (2 radius + 1)^2, H, W)``; zero padding."""
    B, C, H, W = first.shape
    padded = F.pad(second, (radius, radius, radius, radius))
    costs = [(first * padded[:, :, dy : dy + H, dx : dx + W]).mean(1)
             for dy in range(2 * radius + 1) for dx in range(2 * radius + 1)]
    return torch.stack(costs, dim=1)


def upsample_flow(flow: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """A coarse flow ``(B, 2, h, w)`` resized to ``size`` (bilinear), its vectors scaled by the size ratio."""
    scale = torch.tensor([size[1] / flow.shape[3], size[0] / flow.shape[2]], device=flow.device)
    return F.interpolate(flow, size=size, mode="bilinear", align_corners=False) * scale[None, :, None, None]
