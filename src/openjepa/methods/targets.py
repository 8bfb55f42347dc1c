"""Target encoders: an EMA copy of the context encoder, the encoder itself, or a frozen copy."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn


@dataclass
class TargetConfig:
    """``ema``: momentum goes linearly from ``momentum[0]`` to ``momentum[1]`` over the run.
    ``shared``: the context encoder itself (``detach`` stops gradients through the block targets;
    I-JEPA's whole-image term keeps them on both sides).
    ``frozen``: a copy of the encoder as built (or loaded), never updated."""

    mode: Literal["ema", "shared", "frozen"] = "ema"
    momentum: tuple[float, float] = (0.996, 1.0)
    detach: bool = True

    def validate(self) -> None:
        if not all(0.0 <= m <= 1.0 for m in self.momentum):
            raise ValueError(f"target.momentum must lie in [0, 1], got {self.momentum}")


class TargetEncoder(nn.Module):
    """Holds the target network; ``self.net`` is the module to run on targets.

    In ``shared`` mode no copy is registered, so state dicts hold no duplicate
    weights.
    """

    def __init__(self, config: TargetConfig, encoder: nn.Module):
        super().__init__()
        self.config = config
        if config.mode == "shared":
            self._shared = [encoder]  # a list keeps it out of this module's parameters
        else:
            self.copy = copy.deepcopy(encoder)
            self.copy.requires_grad_(False)

    @property
    def net(self) -> nn.Module:
        return self._shared[0] if self.config.mode == "shared" else self.copy

    @property
    def gives_gradients(self) -> bool:
        return self.config.mode == "shared" and not self.config.detach

    def momentum(self, step: int, total_steps: int) -> float:
        start, end = self.config.momentum
        return start + (end - start) * min(1.0, step / max(1, total_steps))

    @torch.no_grad()
    def update(self, encoder: nn.Module, step: int, total_steps: int) -> float | None:
        """EMA step ``target = m * target + (1 - m) * encoder``; returns m (None if not EMA)."""
        if self.config.mode != "ema":
            return None
        m = self.momentum(step, total_steps)
        target = [p for p in self.copy.parameters()]
        online = [p.detach() for p in encoder.parameters()]
        torch._foreach_lerp_(target, online, 1.0 - m)
        return m
