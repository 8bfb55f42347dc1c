"""What every method gives the trainer and the evaluator."""

from __future__ import annotations

from dataclasses import dataclass, field
import torch
from torch import nn

from openjepa.data.loader import SampleExtras


@dataclass
class StepOutput:
    """A training step's loss, its named parts and metrics (scalars, detached)."""

    loss: torch.Tensor
    logs: dict[str, torch.Tensor] = field(default_factory=dict)


class Normalize(nn.Module):
    """Per-channel ``(x - mean) / std`` for images ``(B, C, H, W)`` or clips ``(B, C, T, H, W)`` in [0, 1]."""

    def __init__(self, mean: list[float], std: list[float]):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32), persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = (1, -1) + (1,) * (x.ndim - 2)
        return (x - self.mean.view(shape)) / self.std.view(shape)


class Method(nn.Module):
    """A JEPA family member: ``forward(batch) -> StepOutput``.

    ``batch`` holds ``image`` (images ``(B, C, H, W)`` or clips ``(B, C, T, H, W)``) in [0, 1], ``step``, ``seed`` and what
    :meth:`sample_extras` adds (masks). The trainer calls :meth:`after_step`
    after each optimizer step and never looks inside.
    """

    normalize: Normalize

    def sample_extras(self) -> SampleExtras | None:
        """Per-sample draws the loader adds to each batch (masks), or None."""
        return None

    def after_step(self, step: int, total_steps: int) -> dict[str, float]:
        """Update non-gradient state (EMA targets); returns values to log."""
        return {}

    def eval_encoder(self, which: str = "target") -> nn.Module:
        """The encoder evaluated downstream: images (normalised) ``(B, C, H, W) -> (B, N, D)``."""
        raise NotImplementedError
