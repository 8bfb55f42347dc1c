"""MC-JEPA's flow head: coarse-to-fine optical flow from two frames' feature pyramids (PWC-Net's scheme), then
learnt convex upsampling from the finest grid to pixels (RAFT's scheme).

At each level, coarsest first, the flow so far is upsampled, the second frame's features are warped by it, a local
correlation volume compares them with the first frame's, and the residual is the volume's soft-argmax (the expected
offset under a softmax of the costs at a learnt sharpness: a matcher that works before any training) corrected by
a small convolutional estimator that reads the volume, the first frame's features and the flow (it starts at
zero). Flows are in cells of their level (see
:mod:`openjepa.nn.flow_ops` for the convention); the pixel flow is in pixels.

The finest grid's cells are patches of pixels (4 x 4 for a ViT of patch 4), too coarse to see a textured background
shift by a pixel. With the frames at hand, the pixel flow is matched once more on pixels: the soft-argmax over a
local volume of normalised cross-correlations of grey patches (:func:`match_pixels`, classical block matching, with
a learnt sharpness), then corrected by a small network that reads the frames (``refine``). The same matcher from
zero flow is the eval's block-matching baseline, so what the learnt levels add is measured.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from openjepa.nn.flow_ops import correlation, upsample_flow, warp

PIXEL_SHARPNESS = 50.0  # the pixel matcher's initial softmax scale on correlations in [-1, 1]


@dataclass
class FlowHeadConfig:
    """``radius``: the correlation volume's reach in cells, ``(2 radius + 1)^2`` offsets per level; ``hidden``:
    channels of each level's estimator; ``refine``: channels of a last correction on the pixels (0: none), which
    reads the first frame, the second warped by the flow and the flow (PWC-Net's context network, on pixels), so
    motion boundaries can follow the frames' edges within a cell; ``match_patch``: side of the grey patches matched
    on pixels within ``radius`` pixels before that correction (0: none)."""

    radius: int = 2
    hidden: int = 64
    refine: int = 32
    match_patch: int = 7

    def validate(self) -> None:
        if self.radius < 1 or self.hidden < 1 or self.refine < 0:
            raise ValueError(f"flow_head.radius and flow_head.hidden must be >= 1 and flow_head.refine >= 0, got "
                             f"{self.radius}, {self.hidden}, {self.refine}")
        if self.match_patch < 0 or (self.match_patch and self.match_patch % 2 == 0):
            raise ValueError(f"flow_head.match_patch must be an odd patch side or 0 (no matching on pixels), got "
                             f"{self.match_patch}")


def _estimator(inputs: int, hidden: int) -> nn.Sequential:
    """Three 3 x 3 convolutions to a residual flow ``(B, 2, h, w)``; the last starts at zero (no flow)."""
    last = nn.Conv2d(hidden, 2, 3, padding=1)
    nn.init.zeros_(last.weight)
    nn.init.zeros_(last.bias)
    return nn.Sequential(nn.Conv2d(inputs, hidden, 3, padding=1), nn.GELU(),
                         nn.Conv2d(hidden, hidden, 3, padding=1), nn.GELU(), last)


def offset_grid(radius: int, device: torch.device | None = None) -> torch.Tensor:
    """Every offset (dx, dy) in ``[-radius, radius]^2``, in the cost volume's order (rows of dy, then dx):
    ``((2 radius + 1)^2, 2)``."""
    span = torch.arange(-radius, radius + 1, dtype=torch.float32, device=device)
    dy, dx = torch.meshgrid(span, span, indexing="ij")
    return torch.stack([dx.flatten(), dy.flatten()], 1)


def soft_argmax(cost: torch.Tensor, sharpness: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """The expected offset ``(B, 2, h, w)`` under a softmax of ``cost (B, K, h, w)`` times ``sharpness`` over the
    K ``offsets (K, 2)``."""
    return torch.einsum("bkhw,kc->bchw", (cost * sharpness).softmax(1), offsets)


def grey_patches(image: torch.Tensor, side: int, floor: float = 0.01) -> torch.Tensor:
    """Each pixel's ``side x side`` neighbourhood of the grey image (channel mean), zero-mean and scaled to unit
    length (flat ones stay near zero: lengths below ``floor`` are not raised): ``(B, C, H, W)`` -> ``(B, side^2,
    H, W)``."""
    grey = image.float().mean(1, keepdim=True)
    B, _, H, W = grey.shape
    r = side // 2
    patches = F.unfold(F.pad(grey, (r, r, r, r), mode="replicate"), side).view(B, side * side, H, W)
    patches = patches - patches.mean(1, keepdim=True)
    return patches / patches.norm(dim=1, keepdim=True).clamp_min(floor)


def match_pixels(first: torch.Tensor, second: torch.Tensor, flow: torch.Tensor, side: int,
                 sharpness: torch.Tensor | float, offsets: torch.Tensor) -> torch.Tensor:
    """Block matching: ``flow (B, 2, H, W)`` in pixels corrected by the soft-argmax over ``offsets (K, 2)`` of
    the normalised cross-correlation of ``side``-pixel patches of ``first`` and of ``second`` warped by it
    (frames ``(B, C, H, W)``)."""
    radius = int(offsets[:, 0].max())
    cost = correlation(grey_patches(first, side), grey_patches(warp(second, flow), side), radius) * side * side
    return flow + soft_argmax(cost, torch.as_tensor(sharpness, device=cost.device), offsets)


def block_matching(first: torch.Tensor, second: torch.Tensor, side: int = 7, radius: int = 2,
                   sharpness: float = PIXEL_SHARPNESS) -> torch.Tensor:
    """The head's pixel matcher alone, from zero flow at its initial sharpness: a classical baseline ``(B, 2, H,
    W)`` in pixels."""
    zero = first.new_zeros(first.shape[0], 2, *first.shape[-2:])
    return match_pixels(first, second, zero, side, sharpness, offset_grid(radius, first.device))


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
    ``images`` ``(B, C, H, W)`` each, the pixel flow is matched on pixels (``config.match_patch``) and corrected
    (``config.refine``)."""

    def __init__(self, config: FlowHeadConfig, width: int, levels: int, factor: int, channels: int = 3):
        super().__init__()
        self.config, self.factor = config, factor
        self.register_buffer("offsets", offset_grid(config.radius), persistent=False)  # (K, 2)
        self.log_sharpness = nn.Parameter(torch.full((levels,), math.log(10.0)))
        self.estimators = nn.ModuleList(_estimator(len(self.offsets) + width + 2, config.hidden)
                                        for _ in range(levels))
        self.upsampler = nn.Sequential(nn.Conv2d(width, config.hidden, 3, padding=1), nn.GELU(),
                                       nn.Conv2d(config.hidden, 9 * factor * factor, 1))
        self.refiner = _estimator(2 * channels + 2, config.refine) if config.refine else None
        self.log_pixel_sharpness = (nn.Parameter(torch.tensor(math.log(PIXEL_SHARPNESS))) if config.match_patch
                                    else None)

    def forward(self, first: list[torch.Tensor], second: list[torch.Tensor],
                images: tuple[torch.Tensor, torch.Tensor] | None = None) -> tuple[list[torch.Tensor], torch.Tensor]:
        flows: list[torch.Tensor] = []
        for level, (estimator, a, b) in enumerate(zip(self.estimators, first, second)):
            size = a.shape[-2:]
            flow = a.new_zeros(a.shape[0], 2, *size) if not flows else upsample_flow(flows[-1], tuple(size))
            cost = correlation(a, warp(b, flow), self.config.radius)
            match = soft_argmax(cost, self.log_sharpness[level].exp(), self.offsets)
            flows.append(flow + match + estimator(torch.cat([cost, a, flow], dim=1)))
        finest = first[-1]
        B, _, h, w = finest.shape
        weights = self.upsampler(finest).reshape(B, 9, self.factor, self.factor, h, w).softmax(1)
        pixels = convex_upsample(flows[-1], weights, self.factor)
        if images is not None:
            one, two = images
            if self.config.match_patch:
                pixels = match_pixels(one, two, pixels, self.config.match_patch, self.log_pixel_sharpness.exp(),
                                      self.offsets)
            if self.refiner is not None:
                pixels = pixels + self.refiner(torch.cat([one, warp(two, pixels), pixels], dim=1))
        return flows, pixels
