"""Argument checks every environment shares: frame size, episode length, render mode, reset options."""

from __future__ import annotations

from typing import Any


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
