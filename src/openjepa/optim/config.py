"""Settings of the optimizer and its schedules."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass
class OptimConfig:
    """AdamW with linear warmup from ``start_lr`` to ``lr``, then cosine to ``final_lr`` (or constant).

    Weight decay follows a cosine from ``weight_decay[0]`` to ``weight_decay[1]``
    and never applies to biases and other 1-D parameters.
    """

    lr: float = 1e-3
    start_lr: float = 2e-4
    final_lr: float = 1e-6
    warmup_steps: int = 100
    schedule: Literal["cosine", "constant"] = "cosine"
    weight_decay: tuple[float, float] = (0.04, 0.4)
    betas: tuple[float, float] = (0.9, 0.999)
    clip_grad: float | None = 1.0

    def validate(self) -> None:
        if self.lr <= 0:
            raise ValueError(f"optim.lr must be > 0, got {self.lr}")
        if self.start_lr < 0 or self.final_lr < 0:
            raise ValueError(f"optim.start_lr and optim.final_lr must be >= 0, got {self.start_lr}, {self.final_lr}")
        if self.warmup_steps < 0:
            raise ValueError(f"optim.warmup_steps must be >= 0, got {self.warmup_steps}")
