"""Settings of the training loop and the optimizer."""

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
        if self.lr <= 0 or self.start_lr < 0 or self.final_lr < 0:
            raise ValueError("optim learning rates must be positive")
        if self.warmup_steps < 0:
            raise ValueError(f"optim.warmup_steps must be >= 0, got {self.warmup_steps}")


@dataclass
class TrainConfig:
    """The loop. ``steps`` is the schedule length; ``minutes`` (if set) fits the schedule to a time
    budget after timing the first steps. ``batch_size`` is global (split over processes)."""

    steps: int = 1000
    minutes: float | None = None
    batch_size: int = 128
    precision: Literal["fp32", "bf16"] = "bf16"
    seed: int = 0
    device: str = "auto"
    threads: int | None = None
    num_workers: int = 0
    log_every: int = 1
    checkpoint_every: int = 200
    keep_checkpoints: int = 2
    stop_at: int | None = None
    collapse_token_std: float = 0.02
    collapse_rank_fraction: float = 0.02

    def validate(self) -> None:
        if self.steps < 1:
            raise ValueError(f"train.steps must be >= 1, got {self.steps}")
        if self.minutes is not None and self.minutes <= 0:
            raise ValueError(f"train.minutes must be > 0, got {self.minutes}")
        if self.batch_size < 2:
            raise ValueError(f"train.batch_size must be >= 2, got {self.batch_size}")
        if self.log_every < 1 or self.checkpoint_every < 1:
            raise ValueError("train.log_every and train.checkpoint_every must be >= 1")
