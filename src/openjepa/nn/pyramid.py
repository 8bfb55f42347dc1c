"""A feature pyramid over an encoder's 2-D token grid (H-JEPA): level ``l`` holds one feature per cell of
``2^l x 2^l`` neighbouring patches, read through a lateral map and refined top-down from the coarser levels.

Cells pool a weighted mean of their tokens, so a pyramid can be built over any subset of the grid (the target
positions of one block: weight 1 where a token belongs, 0 elsewhere); each level also returns its cells' total
weight, which says how many of the subset's tokens each cell holds.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class PyramidConfig:
    """``levels``: level 0 is the patch grid, each further level halves it (cells of 2, 4, ... patches a side;
    odd sizes round up). ``width``: features per level."""

    levels: int = 3
    width: int = 128

    def validate(self) -> None:
        if self.levels < 1 or self.width < 1:
            raise ValueError(f"pyramid.levels and pyramid.width must be >= 1, got {self.levels}, {self.width}")


def pool_cells(sums: torch.Tensor, weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Add up 2 x 2 cells: ``sums (B, h, w, D)`` and ``weight (B, h, w)`` -> ``(B, ceil(h/2), ceil(w/2), D)`` and
    ``(B, ceil(h/2), ceil(w/2))``; an odd row or column forms cells of its own."""
    h, w = weight.shape[1:]
    pad = (0, w % 2, 0, h % 2)
    pooled = F.avg_pool2d(F.pad(sums.permute(0, 3, 1, 2), pad), 2, divisor_override=1).permute(0, 2, 3, 1)
    return pooled, F.avg_pool2d(F.pad(weight[:, None], pad), 2, divisor_override=1)[:, 0]


def upsample_cells(coarse: torch.Tensor, size: tuple[int, int], factor: int) -> torch.Tensor:
    """Each cell of ``coarse (B, h, w, D)`` copied over the ``factor x factor`` finer cells it covers, cut to
    ``size``."""
    fine = coarse.repeat_interleave(factor, 1).repeat_interleave(factor, 2)
    return fine[:, : size[0], : size[1]]


class TokenPyramid(nn.Module):
    """Tokens ``(B, N, D_enc)`` on a ``grid (h, w)`` -> per level ``(B, h_l, w_l, width)`` features and
    ``(B, h_l, w_l)`` cell weights (see the module docstring); ``weight (B, N)`` picks the tokens pooled (all
    when None)."""

    def __init__(self, config: PyramidConfig, enc_dim: int, grid: tuple[int, ...]):
        super().__init__()
        if len(grid) != 2:
            raise ValueError(f"a token pyramid needs a 2-D token grid (images), got grid {tuple(grid)}")
        self.config, self.grid = config, tuple(grid)
        width = config.width
        self.lateral = nn.ModuleList(nn.Sequential(nn.Linear(enc_dim, width), nn.LayerNorm(width))
                                     for _ in range(config.levels))
        self.top_down = nn.ModuleList(nn.Sequential(nn.Linear(width, width), nn.LayerNorm(width))
                                      for _ in range(config.levels - 1))

    def forward(self, tokens: torch.Tensor,
                weight: torch.Tensor | None = None) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        B, N, D = tokens.shape
        h, w = self.grid
        weight = tokens.new_ones(B, N) if weight is None else weight.to(tokens.dtype)
        counts = weight.reshape(B, h, w)
        sums = tokens.reshape(B, h, w, D) * counts[..., None]
        means, covers = [], []
        for level in range(self.config.levels):
            if level:
                sums, counts = pool_cells(sums, counts)
            means.append(sums / counts.clamp_min(1e-6)[..., None])
            covers.append(counts)
        maps = [lateral(m) for lateral, m in zip(self.lateral, means)]
        for level in reversed(range(self.config.levels - 1)):
            finer = maps[level]
            maps[level] = finer + self.top_down[level](upsample_cells(maps[level + 1], finer.shape[1:3], 2))
        return maps, covers

    def per_patch(self, maps: list[torch.Tensor]) -> torch.Tensor:
        """Every patch's features at every level, coarse cells copied to their patches: ``(B, N, levels * width)``,
        level 0 first."""
        h, w = self.grid
        return torch.cat([upsample_cells(m, (h, w), 2 ** level).reshape(m.shape[0], h * w, -1)
                          for level, m in enumerate(maps)], dim=-1)


class PyramidEncoder(nn.Module):
    """A ViT with a pyramid on its final tokens: ``forward(x)`` gives ``(B, N, levels * width)`` per-patch
    features of every level (what probes, ``embed`` and search read); ``backbone`` is the ViT, whose other
    attributes (``grid``, ``in_chans``, ``tokenize``, ...) this module answers for. The two modules are the
    method's own, not copies."""

    def __init__(self, backbone: nn.Module, pyramid: TokenPyramid):
        super().__init__()
        self.backbone, self.pyramid = backbone, pyramid
        self.levels, self.level_width = pyramid.config.levels, pyramid.config.width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        maps, _ = self.pyramid(self.backbone(x))
        return self.pyramid.per_patch(maps)

    def level_tokens(self, features: torch.Tensor, level: int) -> torch.Tensor:
        """One level's slice ``(..., width)`` of this module's features ``(..., levels * width)``."""
        return features[..., level * self.level_width : (level + 1) * self.level_width]

    def __getattr__(self, name: str):
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(super().__getattr__("backbone"), name)


def backbone_of(encoder: nn.Module) -> nn.Module:
    """The ViT of an encoder that wraps one (:class:`PyramidEncoder`), else the encoder itself: what HF export and
    ``--encoder RUN`` take."""
    return encoder.backbone if isinstance(encoder, PyramidEncoder) else encoder
