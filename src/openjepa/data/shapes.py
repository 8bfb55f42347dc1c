"""Procedural shapes: a built-in image dataset that needs no download.

Ten shape classes drawn with a random colour, size, tilt and position on a
background of another random colour with smooth noise. The class is a property of the
outline only: a person reads it at a glance, but a linear probe on raw pixels or
on a random-init ViT, where colour and position dominate, reads about 0.24 and
0.17 (chance 0.10), so an encoder has to learn shape to do well.
Deterministic in ``seed``; train and test use disjoint seeds.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from PIL import Image, ImageDraw

from openjepa.data.images import ImageData, ImageSet
from openjepa.data.registry import DATASETS

CLASSES = ["circle", "square", "triangle", "star", "cross", "ring", "crescent", "ell", "arrow", "hourglass"]
_SUPERSAMPLE = 2
RADIUS = (0.3, 0.45)  # shape radius, fraction of the image side
NOISE = 0.03  # std of the background's smooth noise
ROTATION = math.pi / 8  # shapes turn by up to this angle either way


def _polygon(points: list[tuple[float, float]], angle: float, scale: float, cx: float, cy: float) -> list[tuple]:
    c, s = math.cos(angle), math.sin(angle)
    return [(cx + scale * (x * c - y * s), cy + scale * (x * s + y * c)) for x, y in points]


def _regular(n: int, radius: float = 1.0, phase: float = -math.pi / 2) -> list[tuple[float, float]]:
    return [(radius * math.cos(phase + 2 * math.pi * k / n), radius * math.sin(phase + 2 * math.pi * k / n)) for k in range(n)]


def _star() -> list[tuple[float, float]]:
    outer, inner = _regular(5), _regular(5, 0.42, -math.pi / 2 + math.pi / 5)
    return [p for pair in zip(outer, inner) for p in pair]


_OUTLINES = {
    "square": [(-0.75, -0.75), (0.75, -0.75), (0.75, 0.75), (-0.75, 0.75)],
    "triangle": _regular(3),
    "star": _star(),
    "cross": [(-0.3, -1), (0.3, -1), (0.3, -0.3), (1, -0.3), (1, 0.3), (0.3, 0.3), (0.3, 1), (-0.3, 1),
              (-0.3, 0.3), (-1, 0.3), (-1, -0.3), (-0.3, -0.3)],
    "ell": [(-0.8, -1), (-0.2, -1), (-0.2, 0.4), (0.8, 0.4), (0.8, 1), (-0.8, 1)],
    "arrow": [(-1, -0.25), (0.1, -0.25), (0.1, -0.7), (1, 0), (0.1, 0.7), (0.1, 0.25), (-1, 0.25)],
    "hourglass": [(-0.8, -1), (0.8, -1), (0.1, 0), (0.8, 1), (-0.8, 1), (-0.1, 0)],
}


def _backgrounds(rng: np.random.Generator, n: int, size: int) -> np.ndarray:
    """``(n, size, size, 3)`` float32 in [0, 1]: one random colour per image plus smooth noise."""
    colour = torch.from_numpy(rng.uniform(0, 1, (n, 3, 1, 1)).astype(np.float32))
    noise = torch.from_numpy(rng.normal(0, NOISE, (n, 3, 4, 4)).astype(np.float32))
    noise = torch.nn.functional.interpolate(noise, size=(size, size), mode="bilinear", align_corners=True)
    return (colour + noise).clamp_(0, 1).permute(0, 2, 3, 1).numpy()


def _shape_colour(rng: np.random.Generator, background: np.ndarray) -> tuple[int, int, int]:
    """A colour at least 0.35 away (RGB distance) from the background's mean colour."""
    mean = background[::8, ::8].reshape(-1, 3).mean(0)
    for _ in range(50):
        colour = rng.uniform(0, 1, 3)
        if np.linalg.norm(colour - mean) > 0.35:
            break
    return tuple(int(v * 255) for v in colour)


def draw_shape(rng: np.random.Generator, label: int, background: np.ndarray) -> np.ndarray:
    """Draw one shape of class ``label`` on ``background (S, S, 3)`` in [0, 1]; returns uint8 ``(S, S, 3)``."""
    big = background.shape[0]
    colour = _shape_colour(rng, background)
    radius = rng.uniform(*RADIUS) * big
    cx, cy = rng.uniform(radius, big - radius, 2)
    angle = rng.uniform(-ROTATION, ROTATION)
    hole = rng.uniform(0.45, 0.6) if CLASSES[label] == "ring" else 0.0
    return draw_outline(background, CLASSES[label], colour, radius, (cx, cy), angle, hole)


def draw_outline(background: np.ndarray, name: str, colour: tuple[int, int, int], radius: float,
                 centre: tuple[float, float], angle: float, hole: float) -> np.ndarray:
    """Fill the outline ``name`` (one of :data:`CLASSES`) of ``radius`` pixels at ``centre``, turned by ``angle``,
    in ``colour`` (RGB 0-255) on ``background (S, S, 3)`` in [0, 1] (a ring's hole: ``hole`` of its radius);
    returns uint8 ``(S, S, 3)``."""
    canvas = Image.fromarray((background * 255).astype(np.uint8))
    draw = ImageDraw.Draw(canvas)
    cx, cy = centre
    if name in ("circle", "ring", "crescent"):
        r = radius * 0.9
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=colour)
        if name == "ring":
            inner = r * hole
            cut = Image.new("L", canvas.size, 0)
            ImageDraw.Draw(cut).ellipse([cx - inner, cy - inner, cx + inner, cy + inner], fill=255)
            canvas.paste(Image.fromarray((background * 255).astype(np.uint8)), mask=cut)
        if name == "crescent":
            ox, oy = 0.55 * r * math.cos(angle), 0.55 * r * math.sin(angle)
            bite = Image.new("L", canvas.size, 0)
            ImageDraw.Draw(bite).ellipse([cx + ox - r, cy + oy - r, cx + ox + r, cy + oy + r], fill=255)
            canvas.paste(Image.fromarray((background * 255).astype(np.uint8)), mask=bite)
    else:
        draw.polygon(_polygon(_OUTLINES[name], angle, radius, cx, cy), fill=colour)
    return np.asarray(canvas)


def make_shapes(n: int, seed: int, size: int = 32) -> ImageSet:
    """``n`` images, balanced over the classes, deterministic in ``seed``."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % len(CLASSES)
    rng.shuffle(labels)
    big = size * _SUPERSAMPLE
    drawn = []
    for start in range(0, n, 1000):
        chunk = labels[start : start + 1000]
        backgrounds = _backgrounds(rng, len(chunk), big)
        drawn.append(np.stack([draw_shape(rng, int(c), bg) for c, bg in zip(chunk, backgrounds)]))
    images = torch.from_numpy(np.concatenate(drawn)).permute(0, 3, 1, 2).float()
    images = torch.nn.functional.avg_pool2d(images, _SUPERSAMPLE).round().to(torch.uint8)
    return ImageSet(images.contiguous(), torch.from_numpy(labels).long(), list(CLASSES))


def load_shapes(train_size: int = 12000, test_size: int = 2000, size: int = 32) -> ImageData:
    """The built-in ``shapes`` dataset."""
    return ImageData("shapes", make_shapes(train_size, seed=1, size=size), make_shapes(test_size, seed=2, size=size))


@DATASETS.register("shapes", modality="image")
def shapes_dataset(cfg) -> ImageData:
    """``shapes`` at the image size an image data config asks for (default 32)."""
    return load_shapes(size=cfg.image_size or 32)
