"""Batched image augmentations on tensors (no torchvision): crops, flips, colour, blur, solarize.

All take images ``(B, C, H, W)`` in [0, 1] and a ``torch.Generator`` and draw
one set of parameters per image. C is 1 or 3; colour-only operations leave grey
images unchanged. ``random_flips`` takes any ``(B, ..., H, W)``, e.g. clips ``(B, C, T, H, W)``, and flips
all of a sample's frames alike; ``flipped`` applies one of the ``symmetries`` to every sample.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F


@dataclass
class ViewConfig:
    """One kind of view (e.g. global or local). ``size`` None means the input size."""

    size: int | None = None
    scale: tuple[float, float] = (0.3, 1.0)
    ratio: tuple[float, float] = (0.75, 4 / 3)
    flip: float = 0.5
    jitter: float = 0.8
    brightness: float = 0.4
    contrast: float = 0.4
    saturation: float = 0.2
    hue: float = 0.1
    grayscale: float = 0.2
    blur: float = 0.0
    blur_sigma: tuple[float, float] = (0.1, 1.0)
    solarize: float = 0.0


def _uniform(n: int, low: float, high: float, gen: torch.Generator) -> torch.Tensor:
    return torch.rand(n, generator=gen) * (high - low) + low


def _coin(n: int, p: float, gen: torch.Generator) -> torch.Tensor:
    return torch.rand(n, generator=gen) < p


def resized_crop(images: torch.Tensor, size: int, scale: tuple[float, float], ratio: tuple[float, float],
                 flip: float, gen: torch.Generator) -> torch.Tensor:
    """Random crop of area ``scale`` and aspect ``ratio`` (w/h), optionally mirrored, resized to ``size``."""
    B = images.shape[0]
    area = _uniform(B, *scale, gen)
    log_r = _uniform(B, math.log(ratio[0]), math.log(ratio[1]), gen)
    aspect = log_r.exp()
    w = (area * aspect).sqrt().clamp(max=1.0)
    h = (area / aspect).sqrt().clamp(max=1.0)
    cx = (1 - w) * (2 * torch.rand(B, generator=gen) - 1)
    cy = (1 - h) * (2 * torch.rand(B, generator=gen) - 1)
    sign = torch.where(_coin(B, flip, gen), -1.0, 1.0)
    theta = torch.zeros(B, 2, 3)
    theta[:, 0, 0], theta[:, 0, 2] = w * sign, cx
    theta[:, 1, 1], theta[:, 1, 2] = h, cy
    theta = theta.to(images)
    grid = F.affine_grid(theta, [B, images.shape[1], size, size], align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


Flips = Literal["none", "horizontal", "dihedral"]
Symmetry = tuple[bool, bool, bool]  # (mirror left-right, then up-down, then transpose)
IDENTITY: Symmetry = (False, False, False)
_ONE_FLIP: list[Symmetry] = [(True, False, False), (False, True, False), (False, False, True)]


def symmetries(flips: Flips) -> list[Symmetry]:
    """The symmetries ``flips`` draws from, the identity first: 1, 2 (left-right) or the square's 8."""
    if flips == "none":
        return [IDENTITY]
    if flips == "horizontal":
        return [IDENTITY, _ONE_FLIP[0]]
    return [(h, v, t) for t in (False, True) for v in (False, True) for h in (False, True)]


def flipped(x: torch.Tensor, symmetry: Symmetry) -> torch.Tensor:
    """``x (..., H, W)`` under one symmetry (a transpose needs H == W)."""
    mirror, upside_down, transpose = symmetry
    if transpose and x.shape[-1] != x.shape[-2]:
        raise ValueError(f"transposing needs square frames, got {tuple(x.shape[-2:])}")
    x = x.flip(-1) if mirror else x
    x = x.flip(-2) if upside_down else x
    return x.transpose(-1, -2) if transpose else x


def random_flips(x: torch.Tensor, flips: Flips, gen: torch.Generator) -> torch.Tensor:
    """Each sample of ``x (B, ..., H, W)`` mirrored left-right with probability 1/2; with ``dihedral`` also
    up-down and transposed (H == W), each with probability 1/2: one of the square's 8 symmetries."""
    if flips == "none":
        return x
    ops = _ONE_FLIP[: 1 if flips == "horizontal" else 3]
    for op, chosen in zip(ops, (torch.rand(len(ops), x.shape[0], generator=gen) < 0.5).to(x.device)):
        x = torch.where(chosen.view(-1, *[1] * (x.ndim - 1)), flipped(x, op), x)
    return x


def _grey(images: torch.Tensor) -> torch.Tensor:
    if images.shape[1] == 1:
        return images
    weights = images.new_tensor([0.299, 0.587, 0.114])[None, :, None, None]
    return (images * weights).sum(1, keepdim=True)


def _per_image(values: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    return values.to(images)[:, None, None, None]


def colour_jitter(images: torch.Tensor, cfg: ViewConfig, gen: torch.Generator) -> torch.Tensor:
    """Brightness, contrast, saturation and hue changes, applied to a ``cfg.jitter`` share of images."""
    B = images.shape[0]
    apply = _per_image(_coin(B, cfg.jitter, gen).float(), images)
    out = images * _per_image(_uniform(B, 1 - cfg.brightness, 1 + cfg.brightness, gen), images)
    mean = _grey(out).mean(dim=(1, 2, 3), keepdim=True)
    out = (out - mean) * _per_image(_uniform(B, 1 - cfg.contrast, 1 + cfg.contrast, gen), images) + mean
    if images.shape[1] == 3:
        grey = _grey(out)
        out = (out - grey) * _per_image(_uniform(B, 1 - cfg.saturation, 1 + cfg.saturation, gen), images) + grey
        out = rotate_hue(out, _uniform(B, -cfg.hue, cfg.hue, gen).to(images) * 2 * math.pi)
    out = out.clamp(0, 1)
    return apply * out + (1 - apply) * images


def rotate_hue(images: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
    """Rotate the chroma of RGB ``images`` by ``angle (B,)`` radians in YIQ space."""
    to_yiq = images.new_tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
    yiq = torch.einsum("ij,bjhw->bihw", to_yiq, images)
    c, s = angle.cos()[:, None, None], angle.sin()[:, None, None]
    i, q = yiq[:, 1], yiq[:, 2]
    yiq = torch.stack([yiq[:, 0], c * i - s * q, s * i + c * q], dim=1)
    return torch.einsum("ij,bjhw->bihw", torch.linalg.inv(to_yiq), yiq)


def random_grayscale(images: torch.Tensor, p: float, gen: torch.Generator) -> torch.Tensor:
    if images.shape[1] == 1 or p <= 0:
        return images
    apply = _per_image(_coin(images.shape[0], p, gen).float(), images)
    return apply * _grey(images).expand_as(images) + (1 - apply) * images


def gaussian_blur(images: torch.Tensor, p: float, sigma: tuple[float, float], gen: torch.Generator) -> torch.Tensor:
    """Blur a share ``p`` of the images with a per-image sigma (in pixels)."""
    if p <= 0:
        return images
    B, C, H, W = images.shape
    sig = torch.where(_coin(B, p, gen), _uniform(B, *sigma, gen), torch.zeros(B))
    radius = max(1, math.ceil(2 * sigma[1]))
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float32)
    kernel = torch.exp(-offsets[None] ** 2 / (2 * sig.clamp_min(1e-3)[:, None] ** 2))
    kernel = (kernel / kernel.sum(1, keepdim=True)).to(images)  # (B, K); sigma ~0 gives identity
    kernel = kernel.repeat_interleave(C, 0)
    x = images.reshape(1, B * C, H, W)
    x = F.conv2d(F.pad(x, (radius, radius, 0, 0), mode="reflect"), kernel[:, None, None, :], groups=B * C)
    x = F.conv2d(F.pad(x, (0, 0, radius, radius), mode="reflect"), kernel[:, None, :, None], groups=B * C)
    return x.reshape(B, C, H, W)


def solarize(images: torch.Tensor, p: float, gen: torch.Generator) -> torch.Tensor:
    if p <= 0:
        return images
    apply = _per_image(_coin(images.shape[0], p, gen).float(), images)
    return apply * torch.where(images >= 0.5, 1 - images, images) + (1 - apply) * images


def random_view(images: torch.Tensor, cfg: ViewConfig, gen: torch.Generator) -> torch.Tensor:
    """One augmented view of each image: ``(B, C, H, W) -> (B, C, size, size)``."""
    size = cfg.size or images.shape[-1]
    out = resized_crop(images, size, cfg.scale, cfg.ratio, cfg.flip, gen)
    if cfg.jitter > 0:
        out = colour_jitter(out, cfg, gen)
    out = random_grayscale(out, cfg.grayscale, gen)
    out = gaussian_blur(out, cfg.blur, cfg.blur_sigma, gen)
    return solarize(out, cfg.solarize, gen)
