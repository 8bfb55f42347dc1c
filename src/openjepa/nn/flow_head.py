"""MC-JEPA's flow head: coarse-to-fine optical flow from two frames' feature pyramids (PWC-Net's scheme), then
learnt convex upsampling from the finest grid to pixels (RAFT's scheme).

At each level, coarsest first, the flow so far is upsampled, the second frame's features are warped by it, a local
correlation volume compares them with the first frame's, and the residual is the volume's soft-argmax (the expected
offset under a softmax of the costs at a learnt sharpness: a matcher that works before any training) corrected by
a small convolutional estimator that reads the volume, the first frame's features and the flow (it starts at
zero). Flows are in cells of their level (see
:mod:`openjepa.nn.flow_ops` for the convention); the pixel flow is in pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from openjepa.nn.flow_ops import correlation, upsample_flow, warp


@dataclass
class FlowHeadConfig:
    """``radius``: the correlation volume's reach in cells, ``(2 radius + 1)^2`` offsets per level; ``hidden``:
    channels of each level's estimator; ``refine``: channels of a last correction on the pixels (0: none), which
    reads the first frame, the second warped by the flow and the flow (PWC-Net's context network, on pixels), so
    motion boundaries can follow the frames' edges within a cell."""

    radius: int = 2
    hidden: int = 64
    refine: int = 32

    def validate(self) -> None:
        if self.radius < 1 or self.hidden < 1 or self.refine < 0:
            raise ValueError(f"flow_head.radius and flow_head.hidden must be >= 1 and flow_head.refine >= 0, got "
                             f"{self.radius}, {self.hidden}, {self.refine}")


def _estimator(inputs: int, hidden: int) -> nn.Sequential:
    """Three 3 x 3 convolutions to a residual flow ``(B, 2, h, w)``; the last starts at zero (no flow)."""
    last = nn.Conv2d(hidden, 2, 3, padding=1)
    nn.init.zeros_(last.weight)
    nn.init.zeros_(last.bias)
    return nn.Sequential(nn.Conv2d(inputs, hidden, 3, padding=1), nn.GELU(),
                         nn.Conv2d(hidden, hidden, 3, padding=1), nn.GELU(), last)


def convex_upsample(flow: torch.Tensor, weights: torch.Tensor, factor: int) -> torch.Tensor:
    """Each pixel's flow as a convex combination of the 3 x 3 coarse cells around its own: ``flow (B, 2, h, w)``
    in cells, ``weights (B, 9, factor, factor, h, w)`` (softmaxed over the 9) -> ``(B, 2, h * factor,
    w * factor)`` in pixels."""
    B, _, h, w = flow.shape
    neighbours = F.unfold(flow * factor, 3, padding=1).reshape(B, 2, 9, 1, 1, h, w)
    fine = (weights[:, None] * neighbours).sum(2)  # (B, 2, f, f, h, w)
    return fine.permute(0, 1, 4, 2, 5, 3).reshape(B, 2, h * factor, w * factor)


class FlowHead(nn.Module):
    """Two frames' pyramids, coarsest level first, each ``(B, width, h_l, w_l)`` (every level twice the size of
    the one before, odd sizes rounded up) -> flows per level ``(B, 2, h_l, w_l)`` in cells and the pixel flow
    ``(B, 2, h_0 * factor, w_0 * factor)``, ``factor`` the finest cell's side in pixels; with the two frames
    ``images`` ``(B, C, H, W)`` each, the pixel flow gets the last correction (``config.refine``)."""

    def __init__(self, config: FlowHeadConfig, width: int, levels: int, factor: int, channels: int = 3):
        super().__init__()
        self.config, self.factor = config, factor
        span = torch.arange(-config.radius, config.radius + 1, dtype=torch.float32)
        dy, dx = torch.meshgrid(span, span, indexing="ij")  # the cost volume's order: rows of dy, then dx
        self.register_buffer("offsets", torch.stack([dx.flatten(), dy.flatten()], 1), persistent=False)  # (K, 2)
        self.log_sharpness = nn.Parameter(torch.full((levels,), math.log(10.0)))
        self.estimators = nn.ModuleList(_estimator(len(self.offsets) + width + 2, config.hidden)
                                        for _ in range(levels))
        self.upsampler = nn.Sequential(nn.Conv2d(width, config.hidden, 3, padding=1), nn.GELU(),
                                       nn.Conv2d(config.hidden, 9 * factor * factor, 1))
        self.refiner = _estimator(2 * channels + 2, config.refine) if config.refine else None

    def forward(self, first: list[torch.Tensor], second: list[torch.Tensor],
                images: tuple[torch.Tensor, torch.Tensor] | None = None) -> tuple[list[torch.Tensor], torch.Tensor]:
        flows: list[torch.Tensor] = []
        for level, (estimator, a, b) in enumerate(zip(self.estimators, first, second)):
            size = a.shape[-2:]
            flow = a.new_zeros(a.shape[0], 2, *size) if not flows else upsample_flow(flows[-1], tuple(size))
            cost = correlation(a, warp(b, flow), self.config.radius)
            match = torch.einsum("bkhw,kc->bchw", (cost * self.log_sharpness[level].exp()).softmax(1), self.offsets)
            flows.append(flow + match + estimator(torch.cat([cost, a, flow], dim=1)))
        finest = first[-1]
        B, _, h, w = finest.shape
        weights = self.upsampler(finest).reshape(B, 9, self.factor, self.factor, h, w).softmax(1)
        pixels = convex_upsample(flows[-1], weights, self.factor)
        if self.refiner is not None and images is not None:
            one, two = images
            pixels = pixels + self.refiner(torch.cat([one, warp(two, pixels), pixels], dim=1))
        return flows, pixels
