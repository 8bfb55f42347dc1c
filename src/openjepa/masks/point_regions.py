"""Masks of point-cloud tokens, drawn per sample from the groups' positions (so they need the cloud, not only its
index: the method draws them in its step, from the batch's seed).

- :func:`sequence_ranges` (Point-JEPA): tokens in sequencer order; ``num_targets`` contiguous ranges of a
  ``target_scale`` share each, and the context a contiguous range of a ``context_scale`` share of the rest. Every
  sample draws its own ranges and ratios (the reference draws them once per batch, for all samples).
- :func:`spatial_blocks` (3D-JEPA): ``num_targets`` target blocks, each the ``target_scale`` share of groups
  nearest a random group (a neighbourhood ball), and one context block, the ``context_scale`` share nearest
  another random group, with the targets removed; redrawn (up to ``tries`` times) while it keeps fewer than
  ``min_context`` groups, so the context says something.

Draws are :class:`~openjepa.masks.multiblock.BlockMasks`, batched by
:func:`~openjepa.masks.multiblock.collate_block_masks`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from openjepa.masks.multiblock import BlockMasks, check_ranges


@dataclass
class PointMaskConfig:
    """``kind``: ``sequence`` (Point-JEPA) or ``blocks`` (3D-JEPA); scales are shares of the groups (the context's
    of the groups left after the targets for ``sequence``, of all groups for ``blocks``)."""

    kind: Literal["sequence", "blocks"] = "sequence"
    num_targets: int = 4
    target_scale: tuple[float, float] = (0.15, 0.2)
    context_scale: tuple[float, float] = (0.4, 0.75)
    min_context: int = 4
    tries: int = 4

    def validate(self) -> None:
        check_ranges(self, "method.mask", ("target_scale", "context_scale"))
        if self.target_scale[1] > 1 or self.context_scale[1] > 1:
            raise ValueError("method.mask scales are shares of the groups and must be <= 1")
        if self.num_targets < 1 or self.min_context < 1 or self.tries < 1:
            raise ValueError("method.mask.num_targets, min_context and tries must be >= 1")


def _share(scale: tuple[float, float], total: int, gen: torch.Generator) -> int:
    low, high = scale
    return max(1, min(total, round((low + (high - low) * float(torch.rand((), generator=gen))) * total)))


def sequence_ranges(groups: int, cfg: PointMaskConfig, gen: torch.Generator) -> BlockMasks:
    """One sample's ``(context ids, [target ids per range])`` over ``groups`` tokens in sequencer order."""
    targets, hidden = [], torch.zeros(groups, dtype=torch.bool)
    for _ in range(cfg.num_targets):
        length = _share(cfg.target_scale, groups, gen)
        start = int(torch.randint(groups - length + 1, (), generator=gen))
        targets.append(torch.arange(start, start + length))
        hidden[start : start + length] = True
    rest = (~hidden).nonzero()[:, 0]
    if len(rest) <= cfg.min_context:
        return _masks(rest, targets)
    length = max(cfg.min_context, _share(cfg.context_scale, len(rest), gen))
    start = int(torch.randint(len(rest) - length + 1, (), generator=gen))
    return _masks(rest[start : start + length], targets)


def spatial_blocks(centres: torch.Tensor, cfg: PointMaskConfig,
                   gen: torch.Generator) -> BlockMasks:
    """One sample's ``(context ids, [target ids per block])`` from its group centres ``(G, 3)``."""
    groups = len(centres)
    order = torch.cdist(centres.float(), centres.float()).argsort(1)  # (G, G): each group's nearest first
    best = None
    for _ in range(cfg.tries):
        targets = [order[int(torch.randint(groups, (), generator=gen)), : _share(cfg.target_scale, groups, gen)]
                   for _ in range(cfg.num_targets)]
        hidden = torch.zeros(groups, dtype=torch.bool)
        for t in targets:
            hidden[t] = True
        block = order[int(torch.randint(groups, (), generator=gen)), : _share(cfg.context_scale, groups, gen)]
        context = block[~hidden[block]].sort().values
        if best is None or len(context) > len(best.context):
            best = _masks(context, targets)
        if len(context) >= cfg.min_context:
            break
    return best



def _masks(context: torch.Tensor, targets: list[torch.Tensor]) -> BlockMasks:
    return BlockMasks(context.numpy(), [t.numpy() for t in targets])
