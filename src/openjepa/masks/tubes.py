"""V-JEPA multi-block masking on a 3-D (time, height, width) token grid.

One masking configuration draws ``num_blocks`` spatial rectangles (scale and
aspect drawn independently, every start reachable), each extended over a
``temporal_scale`` share of the clip (1.0: all of it, as V-JEPA does). Their union
is the target; the rest of the clip is the context. V-JEPA draws two
configurations per clip, short-range (8 small blocks) and long-range (2 large
blocks); each gets its own encoder pass and its own predictor mask token.
A ``future`` configuration instead hides the last ``temporal_scale`` share of
the time steps (all of space) behind the first ones: prediction forward in time,
which surprise scoring asks of the predictor.
Draws depend only on ``(seed, epoch, sample index)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from openjepa.masks.multiblock import (
    BlockMasks,
    check_ranges,
    collate_block_masks,
    draw_with_context,
    sample_block,
    sample_rng,
)
from openjepa.masks.registry import MASKERS


@dataclass
class TubeMaskConfig:
    """One masking configuration; scales are fractions of the spatial grid / of the clip length.
    ``kind="future"``: the target is the last ``temporal_scale`` share of time steps (blocks and
    spatial settings unused)."""

    kind: Literal["blocks", "future"] = "blocks"
    num_blocks: int = 8
    spatial_scale: tuple[float, float] = (0.15, 0.15)
    temporal_scale: tuple[float, float] = (1.0, 1.0)
    aspect: tuple[float, float] = (0.75, 1.5)
    min_context: int = 4
    max_tries: int = 20

    def validate(self) -> None:
        check_ranges(self, "tube mask", ("spatial_scale", "temporal_scale", "aspect"))
        if self.spatial_scale[1] > 1 or self.temporal_scale[1] > 1:
            raise ValueError("tube mask scales are fractions of the grid and must be <= 1")
        if self.num_blocks < 1:
            raise ValueError(f"tube mask num_blocks must be >= 1, got {self.num_blocks}")


def vjepa_mask_configs() -> list[TubeMaskConfig]:
    """V-JEPA's pair: short-range (8 blocks of 0.15) and long-range (2 blocks of 0.7), full clip length."""
    return [TubeMaskConfig(num_blocks=8, spatial_scale=(0.15, 0.15)),
            TubeMaskConfig(num_blocks=2, spatial_scale=(0.7, 0.7))]


def sample_tube(rng: np.random.Generator, grid: tuple[int, int, int], config: TubeMaskConfig) -> np.ndarray:
    """One block as a boolean ``(gt, gh, gw)`` map: a spatial rectangle over a run of time steps."""
    gt = grid[0]
    length = int(np.clip(round(rng.uniform(*config.temporal_scale) * gt), 1, gt))
    start = int(rng.integers(0, gt - length + 1))
    tube = np.zeros(grid, dtype=bool)
    tube[start : start + length] = sample_block(rng, grid[1:], config.spatial_scale, config.aspect)
    return tube


@MASKERS.register("tubes")
class TubeMasker:
    """Draws one :class:`BlockMasks` (context, [target]) per configuration of a list; ``masker(seed, epoch,
    index)``."""

    config_class = TubeMaskConfig

    def __init__(self, configs: list[TubeMaskConfig], grid: tuple[int, int, int]):
        if not configs:
            raise ValueError("TubeMasker needs at least one masking configuration")
        for config in configs:
            config.validate()
        if len(grid) != 3:
            raise ValueError(f"tube masks need a (time, height, width) grid, got {grid}")
        self.configs = configs
        self.grid = tuple(grid)

    def draw(self, rng: np.random.Generator, config: TubeMaskConfig) -> BlockMasks:
        if config.kind == "future":
            return self.draw_future(rng, config)

        def once() -> BlockMasks:
            target = np.logical_or.reduce([sample_tube(rng, self.grid, config) for _ in range(config.num_blocks)])
            return BlockMasks(np.flatnonzero(~target), [np.flatnonzero(target)])

        return draw_with_context(once, config.max_tries, config.min_context,
                                 f"on grid {self.grid}; lower the tube mask scales")

    def draw_future(self, rng: np.random.Generator, config: TubeMaskConfig) -> BlockMasks:
        gt = self.grid[0]
        if gt < 2:
            raise ValueError(f"a future mask needs at least 2 time steps on the grid, got {self.grid}")
        hidden = int(np.clip(round(rng.uniform(*config.temporal_scale) * gt), 1, gt - 1))
        ids = np.arange(int(np.prod(self.grid)))
        first_hidden = (gt - hidden) * self.grid[1] * self.grid[2]
        return BlockMasks(ids[:first_hidden], [ids[first_hidden:]])

    def __call__(self, seed: int, epoch: int, index: int) -> list[BlockMasks]:
        rng = sample_rng(seed, epoch, index)
        return [self.draw(rng, config) for config in self.configs]


def future_split(grid: tuple[int, int, int], context_steps: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids ``(Lc,)`` of the first ``context_steps`` time steps of a grid and ``(Lt,)`` of the rest."""
    if not 1 <= context_steps < grid[0]:
        raise ValueError(f"context_steps must lie in [1, {grid[0] - 1}] for a grid with {grid[0]} time steps, "
                         f"got {context_steps}")
    per_step = grid[1] * grid[2]
    ids = torch.arange(grid[0] * per_step)
    return ids[: context_steps * per_step], ids[context_steps * per_step :]


def collate_tube_masks(draws: list[list[BlockMasks]]) -> dict[str, torch.Tensor]:
    """Batch per configuration ``m``: keys ``m{m}.ctx_idx`` ... as :func:`collate_block_masks` (K = 1)."""
    out = {}
    for m in range(len(draws[0])):
        for key, value in collate_block_masks([d[m] for d in draws]).items():
            out[f"m{m}.{key}"] = value
    return out
