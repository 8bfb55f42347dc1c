"""Optical flow as colour (hue: direction, saturation: speed, the usual flow wheel) and sheets of flow fields."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.colors import hsv_to_rgb
from PIL import Image


def flow_to_rgb(flow: np.ndarray, max_speed: float) -> np.ndarray:
    """``flow (2, H, W)`` (dx, dy in pixels) -> ``(H, W, 3)`` uint8: white where still, the hue of the direction
    (east red, counter-clockwise with north up) at full saturation from ``max_speed`` on."""
    dx, dy = flow
    hue = (np.arctan2(-dy, dx) / (2 * np.pi)) % 1.0
    saturation = np.clip(np.hypot(dx, dy) / max(max_speed, 1e-6), 0, 1)
    return (hsv_to_rgb(np.stack([hue, saturation, np.ones_like(hue)], -1)) * 255).round().astype(np.uint8)


def save_flow_sheet(rows: list[list[np.ndarray]], path: Path, max_speed: float, scale: int = 4) -> Path:
    """A PNG grid: each row a list of panels, each panel a frame ``(3, H, W)`` uint8 or a flow ``(2, H, W)``
    float (coloured by :func:`flow_to_rgb` against ``max_speed``)."""
    lines = []
    for row in rows:
        tiles = []
        for panel in row:
            rgb = panel.transpose(1, 2, 0) if panel.shape[0] == 3 else flow_to_rgb(panel, max_speed)
            H, W = rgb.shape[:2]
            tiles += [np.asarray(Image.fromarray(rgb).resize((W * scale, H * scale), Image.NEAREST)),
                      np.full((H * scale, 4, 3), 255, np.uint8)]
        lines += [np.concatenate(tiles[:-1], axis=1), None]
    width = max(line.shape[1] for line in lines if line is not None)
    sheet = np.concatenate([np.full((4, width, 3), 255, np.uint8) if line is None else
                            np.pad(line, ((0, 0), (0, width - line.shape[1]), (0, 0)), constant_values=255)
                            for line in lines[:-1]])
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(sheet).save(path)
    return path
