"""A feature pyramid over an encoder's 2-D token grid (H-JEPA): level ``l`` holds one feature per cell of
``2^l x 2^l`` neighbouring patches, read through a lateral map and refined top-down from the coarser levels.

Cells hold the weighted mean of their tokens, so a pyramid can be built over any subset of the grid (the target
positions of one block: only those tokens, at their grid positions); each level also returns its cells' total weight,
which says how many of the subset's tokens each cell holds. The lateral maps are affine, so they run on the tokens
before pooling (a subset's few tokens, not a canvas of the whole grid), and the top-down maps run on the coarse cells
before these are copied onto the finer ones: the same features, at a fraction of the work.

With ``patch_level: tokens`` level 0 is the encoder's tokens themselves (no lateral map, no top-down refinement):
its loss is then I-JEPA's token loss and only the coarser levels are the pyramid's own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn


@dataclass
class PyramidConfig:
    """``levels``: level 0 is the patch grid, each further level halves it (cells of 2, 4, ... patches a side;
    odd sizes round up). ``width``: features per level. ``patch_level``: level 0 read through a lateral map
    (``lateral``, ``width`` features) or the encoder's tokens as they are (``tokens``, the encoder's width)."""

    levels: int = 3
    width: int = 128
    patch_level: Literal["lateral", "tokens"] = "lateral"

    def validate(self) -> None:
        if self.levels < 1 or self.width < 1:
            raise ValueError(f"pyramid.levels and pyramid.width must be >= 1, got {self.levels}, {self.width}")


def level_shape(grid: tuple[int, int], level: int) -> tuple[int, int]:
    """Cells ``(rows, cols)`` of ``level`` over a ``grid (h, w)`` of patches (odd sizes round up)."""
    side = 2**level
    return -(-grid[0] // side), -(-grid[1] // side)


def cell_index(idx: torch.Tensor, grid: tuple[int, int], level: int) -> torch.Tensor:
    """The cell of ``level`` (row-major over :func:`level_shape`) holding each patch id of ``idx`` (any shape)."""
    rows, cols = idx // grid[1], idx % grid[1]
    return (rows >> level) * level_shape(grid, level)[1] + (cols >> level)


def upsample_cells(coarse: torch.Tensor, size: tuple[int, int], factor: int) -> torch.Tensor:
    """Each cell of ``coarse (B, h, w, D)`` copied over the ``factor x factor`` finer cells it covers, cut to
    ``size``."""
    fine = coarse.repeat_interleave(factor, 1).repeat_interleave(factor, 2)
    return fine[:, : size[0], : size[1]]


class TokenPyramid(nn.Module):
    """Tokens ``(B, L, D_enc)`` at patch ids ``idx (B, L)`` of a ``grid (h, w)`` (all ``N = h * w`` in order when
    None) -> per level ``(B, h_l, w_l, width)`` features and ``(B, h_l, w_l)`` cell weights; ``weight (B, L)``
    weighs the tokens (0: left out). Cells that hold no token have weight 0 and features that mean nothing."""

    def __init__(self, config: PyramidConfig, enc_dim: int, grid: tuple[int, ...]):
        super().__init__()
        if len(grid) != 2:
            raise ValueError(f"a token pyramid needs a 2-D token grid (images), got grid {tuple(grid)}")
        self.config, self.grid = config, tuple(grid)
        width = config.width
        # levels below ``first_mapped`` are the tokens as they are: identity placeholders keep the module indices
        self.first_mapped = 1 if config.patch_level == "tokens" else 0
        self.widths = [enc_dim] * self.first_mapped + [width] * (config.levels - self.first_mapped)

        def mapped(level: int, width_in: int) -> nn.Module:
            if level < self.first_mapped:
                return nn.Sequential(nn.Identity(), nn.Identity())
            return nn.Sequential(nn.Linear(width_in, width), nn.LayerNorm(width))

        self.lateral = nn.ModuleList(mapped(level, enc_dim) for level in range(config.levels))
        self.top_down = nn.ModuleList(mapped(level, width) for level in range(config.levels - 1))

    def forward(self, tokens: torch.Tensor, idx: torch.Tensor | None = None,
                weight: torch.Tensor | None = None) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        B, L, _ = tokens.shape
        if idx is None:
            idx = torch.arange(L, device=tokens.device).expand(B, L)
        weight = tokens.new_ones(B, L) if weight is None else weight.to(tokens.dtype)
        maps, covers = [], []
        for level, lateral in enumerate(self.lateral):
            rows, cols = level_shape(self.grid, level)
            cells = cell_index(idx, self.grid, level)
            projected = lateral[0](tokens) * weight[..., None]  # the affine map commutes with the mean
            sums = projected.new_zeros(B, rows * cols, projected.shape[-1]).scatter_add_(
                1, cells[..., None].expand_as(projected), projected)
            counts = weight.new_zeros(B, rows * cols).scatter_add_(1, cells, weight)
            maps.append(lateral[1](sums / counts.clamp_min(1e-6)[..., None]).reshape(B, rows, cols, -1))
            covers.append(counts.reshape(B, rows, cols))
        for level in reversed(range(self.first_mapped, self.config.levels - 1)):
            finer = maps[level]
            maps[level] = finer + upsample_cells(self.top_down[level](maps[level + 1]), finer.shape[1:3], 2)
        return maps, covers

    def per_patch(self, maps: list[torch.Tensor]) -> torch.Tensor:
        """Every patch's features at every level, coarse cells copied to their patches: ``(B, N, sum(widths))``,
        level 0 first."""
        h, w = self.grid
        return torch.cat([upsample_cells(m, (h, w), 2 ** level).reshape(m.shape[0], h * w, -1)
                          for level, m in enumerate(maps)], dim=-1)


class PyramidEncoder(nn.Module):
    """A ViT with a pyramid on its final tokens: ``forward(x)`` gives ``(B, N, sum(widths))`` per-patch
    features of every level (what probes, ``embed`` and search read); ``backbone`` is the ViT, whose other
    attributes (``grid``, ``in_chans``, ``tokenize``, ...) this module answers for. The two modules are the
    method's own, not copies."""

    def __init__(self, backbone: nn.Module, pyramid: TokenPyramid):
        super().__init__()
        self.backbone, self.pyramid = backbone, pyramid
        self.levels = pyramid.config.levels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        maps, _ = self.pyramid(self.backbone(x))
        return self.pyramid.per_patch(maps)

    def level_tokens(self, features: torch.Tensor, level: int) -> torch.Tensor:
        """One level's slice ``(..., widths[level])`` of this module's features ``(..., sum(widths))``."""
        start = sum(self.pyramid.widths[:level])
        return features[..., start : start + self.pyramid.widths[level]]

    def __getattr__(self, name: str):
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(super().__getattr__("backbone"), name)


def backbone_of(encoder: nn.Module) -> nn.Module:
    """The ViT of an encoder that wraps one (:class:`PyramidEncoder`), else the encoder itself: what HF export and
    ``--encoder RUN`` take."""
    return encoder.backbone if isinstance(encoder, PyramidEncoder) else encoder
