"""Schedules as pure functions of the step, so a resumed run continues exactly."""

from __future__ import annotations

import math

from openjepa.optim.config import OptimConfig


def cosine(step: int, total: int, start: float, end: float) -> float:
    """Half-cosine from ``start`` (step 0) to ``end`` (step ``total``), constant after."""
    progress = min(1.0, max(0.0, step / max(1, total)))
    return end + (start - end) * 0.5 * (1 + math.cos(math.pi * progress))


def warmup_cosine(step: int, total: int, warmup: int) -> float:
    """Factor for a learning rate: linear warmup over ``warmup`` steps (from ``1 / warmup``) times a
    half-cosine from 1 at step 0 to 0 at ``total``."""
    return min(1.0, (step + 1) / max(1, warmup)) * cosine(step, total, 1.0, 0.0)


def learning_rate(step: int, total: int, cfg: OptimConfig) -> float:
    """Linear warmup ``start_lr -> lr`` over ``warmup_steps``, then cosine to ``final_lr`` or constant."""
    if step < cfg.warmup_steps:
        return cfg.start_lr + (cfg.lr - cfg.start_lr) * step / cfg.warmup_steps
    if cfg.schedule == "constant":
        return cfg.lr
    return cosine(step - cfg.warmup_steps, total - cfg.warmup_steps, cfg.lr, cfg.final_lr)


def weight_decay(step: int, total: int, cfg: OptimConfig) -> float:
    return cosine(step, total, *cfg.weight_decay)
