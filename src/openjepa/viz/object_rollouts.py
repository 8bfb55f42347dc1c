"""Object rollouts over frames: a frame with each object's mask outlined, its true future path in white and the
predicted one in the object's colour."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw


def save_object_rollouts(panels: list[tuple], path: Path, scale: int = 8) -> Path:
    """A PNG of panels side by side; each panel is ``(frame (3, H, W) uint8, objects (H, W) uint8, true (T, N, 2),
    predicted (T, N, 2), colours (N, 3))``, paths in box units ([0, 1], x right, y down)."""
    tiles = []
    for frame, objects, true, predicted, colours in panels:
        H, W = objects.shape
        image = Image.fromarray(frame.transpose(1, 2, 0)).resize((W * scale, H * scale), Image.NEAREST)
        draw = ImageDraw.Draw(image)
        edges = np.zeros_like(objects, bool)
        edges[:, 1:] |= objects[:, 1:] != objects[:, :-1]
        edges[1:] |= objects[1:] != objects[:-1]
        for y, x in zip(*np.nonzero(edges & (objects > 0))):
            draw.rectangle([x * scale, y * scale, (x + 1) * scale - 1, (y + 1) * scale - 1], outline=(255, 255, 255))
        for n in range(true.shape[1]):
            for path_, fill, width in ((true[:, n], (255, 255, 255), 3), (predicted[:, n], tuple(colours[n]), 2)):
                points = [(float(x) * W * scale, float(y) * H * scale) for x, y in path_]
                draw.line(points, fill=fill, width=width)
                draw.ellipse([points[-1][0] - 3, points[-1][1] - 3, points[-1][0] + 3, points[-1][1] + 3], fill=fill)
        tiles += [np.asarray(image), np.full((H * scale, 4, 3), 255, np.uint8)]
    sheet = Image.fromarray(np.concatenate(tiles[:-1], axis=1))
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)
    return path
