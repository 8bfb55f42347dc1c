"""Captioned shapes: a built-in image-caption set that needs no download (VL-JEPA's demo data).

Each image holds one of the ten outlines of :mod:`openjepa.data.shapes` in one of eight named colours, small or
large, in one of nine places (a 3 x 3 grid), on a background of another colour with smooth noise; its caption says
all four, e.g. ``a small red star at the top left``: 1,440 distinct captions, one for each description, so a
caption retrieved at rank 1 must get shape, colour, size and place right. The classes (for zero-shot) are the outlines,
prompted as ``a star``, ``an arrow``. Deterministic in ``seed``; train and test use disjoint seeds.
"""

from __future__ import annotations

import numpy as np
import torch

from openjepa.data.captions import CaptionedImages
from openjepa.data.images import ImageData
from openjepa.data.registry import DATASETS
from openjepa.data.shapes import _SUPERSAMPLE, CLASSES, ROTATION, _backgrounds, draw_outline

COLOURS = {"red": (0.85, 0.1, 0.1), "orange": (0.95, 0.55, 0.1), "yellow": (0.95, 0.9, 0.15),
           "green": (0.15, 0.65, 0.2), "blue": (0.15, 0.3, 0.9), "purple": (0.55, 0.2, 0.75),
           "white": (0.96, 0.96, 0.96), "black": (0.06, 0.06, 0.06)}
SIZES = {"small": (0.14, 0.19), "large": (0.24, 0.3)}  # radius, fraction of the image side
ROWS, COLUMNS = ("top", "middle", "bottom"), ("left", "centre", "right")
CAPTION = "a {size} {colour} {shape} {place}"


def place_words(row: int, column: int) -> str:
    """``at the top left``, ``on the right``, ``in the centre`` ... for a cell of the 3 x 3 grid."""
    if row == 1:
        return "in the centre" if column == 1 else f"on the {COLUMNS[column]}"
    return f"at the {ROWS[row]}" if column == 1 else f"at the {ROWS[row]} {COLUMNS[column]}"


def _background_far_from(rng: np.random.Generator, colour: np.ndarray, size: int) -> np.ndarray:
    for _ in range(50):
        background = _backgrounds(rng, 1, size)[0]
        if np.linalg.norm(background[::8, ::8].reshape(-1, 3).mean(0) - colour) > 0.45:
            break
    return background


def _cell_centre(rng: np.random.Generator, cell: int, radius: float) -> float:
    """A coordinate (fraction of the side) inside third ``cell`` of the side and at least ``radius`` from the edge."""
    low, high = max(cell / 3, radius), min((cell + 1) / 3, 1 - radius)
    return rng.uniform(low, high)


def make_captioned_shapes(n: int, seed: int, size: int = 48) -> CaptionedImages:
    """``n`` captioned images, balanced over the outlines, deterministic in ``seed``."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % len(CLASSES)
    rng.shuffle(labels)
    big = size * _SUPERSAMPLE
    colour_names, size_names = list(COLOURS), list(SIZES)
    drawn, captions = [], []
    for label in labels:
        colour_name = colour_names[rng.integers(len(colour_names))]
        size_name = size_names[rng.integers(len(size_names))]
        row, column = rng.integers(3, size=2)
        colour = np.clip(np.array(COLOURS[colour_name]) + rng.uniform(-0.06, 0.06, 3), 0, 1)
        radius = rng.uniform(*SIZES[size_name])
        centre = (_cell_centre(rng, column, radius) * big, _cell_centre(rng, row, radius) * big)
        background = _background_far_from(rng, colour, big)
        image = draw_outline(background, CLASSES[label], tuple(int(v * 255) for v in colour), radius * big, centre,
                             rng.uniform(-ROTATION, ROTATION), rng.uniform(0.45, 0.6))
        drawn.append(image)
        captions.append((CAPTION.format(size=size_name, colour=colour_name, shape=CLASSES[label],
                                        place=place_words(row, column)),))
    images = torch.from_numpy(np.stack(drawn)).permute(0, 3, 1, 2).float()
    images = torch.nn.functional.avg_pool2d(images, _SUPERSAMPLE).round().to(torch.uint8)
    return CaptionedImages(images.contiguous(), torch.from_numpy(labels).long(), list(CLASSES), captions,
                           [f"{'an' if name[0] in 'aeiou' else 'a'} {name}" for name in CLASSES])


@DATASETS.register("shapes_captions", modality="image_text")
def captioned_shapes_dataset(cfg) -> ImageData:
    """``shapes_captions``: 16,000 training and 2,000 test images at the size asked (default 48 px)."""
    size = cfg.image_size or 48
    return ImageData("shapes_captions", make_captioned_shapes(16000, seed=11, size=size),
                     make_captioned_shapes(2000, seed=12, size=size))
