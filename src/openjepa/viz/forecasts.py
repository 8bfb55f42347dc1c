"""Forecast paths over frames: for each clip, its first frame beside its last seen frame with paths drawn over it
(the seen past, the true future, forecasts), and a legend underneath."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

Path2d = tuple[np.ndarray, tuple[int, int, int]]  # points (T, 2) in [0, 1] (x right, y down) and an RGB colour


def _upscaled(frame: np.ndarray, scale: int) -> Image.Image:
    """uint8 ``(3, H, W)`` -> an RGB image ``scale`` times larger."""
    H, W = frame.shape[1:]
    return Image.fromarray(frame.transpose(1, 2, 0)).resize((W * scale, H * scale), Image.NEAREST)


def save_forecasts(panels: list[tuple[np.ndarray, np.ndarray, dict[str, Path2d]]], path: Path,
                   scale: int = 8) -> Path:
    """A PNG of panels side by side; each is ``(first frame, last seen frame, {label: (points, colour)})`` with
    uint8 ``(3, H, W)`` frames; every path ends in a dot, and the labels of the first panel make the legend."""
    tiles = []
    for first, last, paths in panels:
        H, W = last.shape[1:]
        image = _upscaled(last, scale)
        draw = ImageDraw.Draw(image)
        for points, colour in paths.values():
            xy = [(float(x) * W * scale, float(y) * H * scale) for x, y in points]
            draw.line(xy, fill=colour, width=2)
            draw.ellipse([xy[-1][0] - 3, xy[-1][1] - 3, xy[-1][0] + 3, xy[-1][1] + 3], fill=colour)
        gap = np.full((H * scale, 4, 3), 255, np.uint8)
        tiles += [np.asarray(_upscaled(first, scale)), gap, np.asarray(image), gap, gap]
    sheet = np.concatenate(tiles[:-2], axis=1)
    legend = Image.new("RGB", (sheet.shape[1], 20), (255, 255, 255))
    draw, x = ImageDraw.Draw(legend), 4
    for label, (_, colour) in panels[0][2].items():
        draw.rectangle([x, 6, x + 10, 14], fill=colour, outline=(0, 0, 0))
        draw.text((x + 14, 4), label, fill=(0, 0, 0))
        x += 24 + 7 * len(label)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.concatenate([sheet, np.asarray(legend)], axis=0)).save(path)
    return path
