"""Argument checks every environment shares: frame size, episode length, render mode, reset options, actions."""

from __future__ import annotations

from typing import Any

import numpy as np


def check_settings(image_size: int, max_steps: int, render_mode: str | None) -> None:
    """Raise ``ValueError`` naming the bad setting: frames of 8-1024 px, episodes of at least one step,
    ``rgb_array`` rendering or none."""
    if not 8 <= image_size <= 1024:
        raise ValueError(f"image_size must be in [8, 1024], got {image_size}")
    if max_steps < 1:
        raise ValueError(f"max_steps must be >= 1, got {max_steps}")
    if render_mode not in (None, "rgb_array"):
        raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")


def reset_options(options: dict[str, Any] | None, known: tuple[str, ...]) -> dict[str, Any]:
    """``options`` (empty if None), refused with the known names when any is unknown."""
    options = options or {}
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise ValueError(f"unknown reset options {unknown}; known: {list(known)}")
    return options


def check_action(action: np.ndarray) -> np.ndarray:
    """``action`` as float64 ``(2,)`` clipped to [-1, 1]; a wrong shape or a non-finite value is a ``ValueError``."""
    action = np.asarray(action, dtype=np.float64)
    if action.shape != (2,) or not np.isfinite(action).all():
        raise ValueError(f"action must be a finite array of shape (2,), got shape {action.shape} "
                         f"with values {action.ravel()[:4].tolist()}")
    return np.clip(action, -1.0, 1.0)
