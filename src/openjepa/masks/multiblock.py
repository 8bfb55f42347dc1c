"""I-JEPA multi-block masking on a 2-D token grid.

Per sample: ``num_targets`` rectangular target blocks and one context block
with the target tokens removed. Differences from the reference sampler, on
purpose: scale and aspect are drawn independently; every start row/column is
reachable; blocks are kept whole (no truncation to the batch minimum, which
makes blocks non-rectangular and starves small grids); the draw depends only on
``(seed, epoch, sample index)`` so it does not change with the number of loader
workers or processes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from openjepa.masks.registry import MASKERS


@dataclass
class MultiBlockConfig:
    """Block scales are fractions of the grid area; aspect is height / width."""

    name: Literal["multiblock"] = "multiblock"
    num_targets: int = 4
    target_scale: tuple[float, float] = (0.15, 0.2)
    target_aspect: tuple[float, float] = (0.75, 1.5)
    context_scale: tuple[float, float] = (0.85, 1.0)
    context_aspect: tuple[float, float] = (1.0, 1.0)
    min_context: int = 4
    max_tries: int = 20

    def validate(self) -> None:
        check_ranges(self, "mask", ("target_scale", "target_aspect", "context_scale", "context_aspect"))
        if self.target_scale[1] > 1 or self.context_scale[1] > 1:
            raise ValueError("mask scales are fractions of the grid and must be <= 1")
        if self.num_targets < 1:
            raise ValueError(f"mask.num_targets must be >= 1, got {self.num_targets}")


def check_ranges(config: object, prefix: str, names: tuple[str, ...]) -> None:
    """Each ``(low, high)`` field in ``names`` must satisfy ``0 < low <= high``."""
    for name in names:
        lo, hi = getattr(config, name)
        if not 0 < lo <= hi:
            raise ValueError(f"{prefix}.{name} must satisfy 0 < low <= high, got ({lo}, {hi})")


@dataclass
class BlockMasks:
    """One sample's draw: grid indices of the context tokens and of each target block."""

    context: np.ndarray
    targets: list[np.ndarray]


def sample_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    """The generator for one sample's random draws, a pure function of its arguments."""
    return np.random.default_rng([seed, epoch, index, 0x6A657061])


def sample_block(
    rng: np.random.Generator, grid: tuple[int, int], scale: tuple[float, float], aspect: tuple[float, float]
) -> np.ndarray:
    """A rectangle on ``grid`` as a boolean ``(gh, gw)`` map; scale and aspect drawn independently."""
    gh, gw = grid
    area = rng.uniform(*scale) * gh * gw
    ratio = rng.uniform(*aspect)
    h = int(np.clip(round(np.sqrt(area * ratio)), 1, gh))
    w = int(np.clip(round(np.sqrt(area / ratio)), 1, gw))
    top = int(rng.integers(0, gh - h + 1))
    left = int(rng.integers(0, gw - w + 1))
    block = np.zeros(grid, dtype=bool)
    block[top : top + h, left : left + w] = True
    return block


@MASKERS.register("multiblock")
class MultiBlockMasker:
    """Draws :class:`BlockMasks` for a 2-D grid; ``masker(seed, epoch, index)``."""

    config_class = MultiBlockConfig

    def __init__(self, config: MultiBlockConfig, grid: tuple[int, int]):
        config.validate()
        self.config = config
        self.grid = tuple(grid)

    def __call__(self, seed: int, epoch: int, index: int) -> BlockMasks:
        cfg = self.config
        rng = sample_rng(seed, epoch, index)

        def once() -> BlockMasks:
            targets = [sample_block(rng, self.grid, cfg.target_scale, cfg.target_aspect) for _ in range(cfg.num_targets)]
            context = sample_block(rng, self.grid, cfg.context_scale, cfg.context_aspect)
            context &= ~np.logical_or.reduce(targets)
            return BlockMasks(np.flatnonzero(context), [np.flatnonzero(t) for t in targets])

        return draw_with_context(once, cfg.max_tries, cfg.min_context, f"on grid {self.grid}; lower mask.target_scale")


def draw_with_context(draw_once: Callable[[], BlockMasks], tries: int, min_context: int, hint: str) -> BlockMasks:
    """The first of up to ``tries`` draws with at least ``min_context`` context tokens, else the one with most."""
    best: BlockMasks | None = None
    for _ in range(tries):
        draw = draw_once()
        if len(draw.context) >= min_context:
            return draw
        if best is None or len(draw.context) > len(best.context):
            best = draw
    if best is None or len(best.context) == 0:
        raise RuntimeError(f"could not draw a non-empty context {hint}")
    return best


def pad_index_sets(sets: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """Variable-length index arrays -> ``index (B, L)`` (pads hold index 0) and ``valid (B, L)``."""
    length = max(len(s) for s in sets)
    index = torch.zeros(len(sets), length, dtype=torch.long)
    valid = torch.zeros(len(sets), length, dtype=torch.bool)
    for row, s in enumerate(sets):
        index[row, : len(s)] = torch.as_tensor(s, dtype=torch.long)
        valid[row, : len(s)] = True
    return index, valid


def masks_of_row(batch: dict[str, torch.Tensor], row: int) -> BlockMasks:
    """Sample ``row`` of batched masks (:func:`collate_block_masks`' keys) without their pads."""
    targets = [t[v].cpu().numpy() for t, v in zip(batch["tgt_idx"][row], batch["tgt_valid"][row])]
    return BlockMasks(batch["ctx_idx"][row][batch["ctx_valid"][row]].cpu().numpy(), targets)


def collate_block_masks(draws: list[BlockMasks]) -> dict[str, torch.Tensor]:
    """Batch the draws: ``ctx_idx/ctx_valid (B, Lc)`` and ``tgt_idx/tgt_valid (B, K, Lt)``."""
    ctx_idx, ctx_valid = pad_index_sets([d.context for d in draws])
    K = len(draws[0].targets)
    per_block = [pad_index_sets([d.targets[k] for d in draws]) for k in range(K)]
    length = max(idx.shape[1] for idx, _ in per_block)
    tgt_idx = torch.zeros(len(draws), K, length, dtype=torch.long)
    tgt_valid = torch.zeros(len(draws), K, length, dtype=torch.bool)
    for k, (idx, valid) in enumerate(per_block):
        tgt_idx[:, k, : idx.shape[1]] = idx
        tgt_valid[:, k, : valid.shape[1]] = valid
    return {"ctx_idx": ctx_idx, "ctx_valid": ctx_valid, "tgt_idx": tgt_idx, "tgt_valid": tgt_valid}
