"""Random token masking (Audio-JEPA's default): per sample, a ratio drawn from ``ratio`` of the tokens, picked
uniformly at random, is the target (one set); the rest is the context. Draws depend only on ``(seed, epoch,
sample index)``."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from openjepa.masks.multiblock import BlockMasks, check_ranges, sample_rng
from openjepa.masks.registry import MASKERS


@dataclass
class RandomTokensConfig:
    """``ratio``: the share of tokens hidden, drawn uniformly from ``(low, high)`` per sample (Audio-JEPA:
    (0.4, 0.6)); at least ``min_context`` tokens stay visible."""

    name: Literal["random"] = "random"
    ratio: tuple[float, float] = (0.4, 0.6)
    min_context: int = 4

    def validate(self) -> None:
        check_ranges(self, "mask", ("ratio",))
        if self.ratio[1] >= 1:
            raise ValueError(f"mask.ratio must stay below 1 (something must be seen), got {self.ratio}")


@MASKERS.register("random")
class RandomTokensMasker:
    """``masker(seed, epoch, index) -> BlockMasks`` with one target set, on a grid of any rank."""

    config_class = RandomTokensConfig

    def __init__(self, config: RandomTokensConfig, grid: tuple[int, ...]):
        config.validate()
        self.config = config
        self.grid = tuple(grid)
        self.tokens = math.prod(self.grid)
        if self.tokens <= config.min_context:
            raise ValueError(f"a grid of {self.tokens} tokens cannot keep mask.min_context={config.min_context} "
                             f"visible and hide any")

    def __call__(self, seed: int, epoch: int, index: int) -> BlockMasks:
        rng = sample_rng(seed, epoch, index)
        hidden = round(rng.uniform(*self.config.ratio) * self.tokens)
        hidden = min(max(hidden, 1), self.tokens - self.config.min_context)
        order = rng.permutation(self.tokens)
        return BlockMasks(context=np.sort(order[hidden:]), targets=[np.sort(order[:hidden])])

