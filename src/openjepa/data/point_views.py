"""Random views of point clouds (augmentations): a rotation, an anisotropic scale and point jitter, drawn per cloud
from an explicit generator."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch


@dataclass
class PointViewConfig:
    """``rotate``: none, about the vertical (z) axis, or uniformly over all 3-D rotations (``so3``); ``scale``: each
    axis scaled by a factor drawn from this range; ``jitter``: std of Gaussian noise added to every point."""

    rotate: Literal["none", "z", "so3"] = "so3"
    scale: tuple[float, float] = (0.8, 1.2)
    jitter: float = 0.01

    def validate(self) -> None:
        if not 0 < self.scale[0] <= self.scale[1] or self.jitter < 0:
            raise ValueError(f"view.scale must satisfy 0 < low <= high and view.jitter >= 0, got {self.scale} and "
                             f"{self.jitter}")


def random_rotations(n: int, kind: str, gen: torch.Generator) -> torch.Tensor:
    """``(n, 3, 3)`` rotation matrices: uniform on SO(3) (QR of a Gaussian matrix, signs fixed) or about z."""
    if kind == "so3":
        q, r = torch.linalg.qr(torch.randn(n, 3, 3, generator=gen))
        q = q * torch.sign(torch.diagonal(r, dim1=1, dim2=2))[:, None, :]
        flip = torch.det(q) < 0
        q[flip, :, 0] = -q[flip, :, 0]
        return q
    angle = torch.rand(n, generator=gen) * (2 * torch.pi if kind == "z" else 0.0)
    c, s, zero, one = angle.cos(), angle.sin(), torch.zeros(n), torch.ones(n)
    return torch.stack([c, -s, zero, s, c, zero, zero, zero, one], 1).reshape(n, 3, 3)


def random_point_view(clouds: torch.Tensor, cfg: PointViewConfig, gen: torch.Generator) -> torch.Tensor:
    """Clouds ``(B, 3, P)`` -> a random view of each, same shape."""
    B = clouds.shape[0]
    low, high = cfg.scale
    transform = random_rotations(B, cfg.rotate, gen) * (low + (high - low) * torch.rand(B, 1, 3, generator=gen))
    out = transform.to(clouds) @ clouds
    if cfg.jitter > 0:
        out = out + cfg.jitter * torch.randn(out.shape, generator=gen).to(clouds)
    return out
