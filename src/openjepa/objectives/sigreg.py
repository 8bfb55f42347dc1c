"""SIGReg: sketched isotropic Gaussian regularization (LeJEPA).

Embeddings ``z (N, D)`` are projected on ``M`` random unit directions; each
1-D projection is compared with a standard normal by the Epps-Pulley statistic,
which integrates the squared gap between the empirical and the Gaussian
characteristic functions over ``t`` in ``[-t_max, t_max]``. The loss is the mean
statistic over directions. It is zero in expectation only for an isotropic
standard Gaussian, so it penalises both dimensional and scale collapse.

Directions are a pure function of ``seed`` (use the global step) so all ranks
use the same ones. Under torch.distributed the characteristic-function means
are all-reduced with gradients, so the value and the gradients equal those of a
single process holding the whole global batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from openjepa.nn.collectives import global_sum


@dataclass
class SIGRegConfig:
    """``weight`` is λ; ``slices`` is M; ``knots`` quadrature points on ``[0, t_max]``."""

    weight: float = 0.0
    slices: int = 256
    knots: int = 17
    t_max: float = 3.0


def random_slices(dim: int, num_slices: int, seed: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """``(dim, num_slices)`` Gaussian directions with unit-norm columns, a function of ``seed`` only."""
    gen = torch.Generator().manual_seed(int(seed))
    directions = torch.randn(dim, num_slices, generator=gen)
    return (directions / directions.norm(dim=0, keepdim=True)).to(device)


def quadrature(knots: int, t_max: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Knots ``t (K,)`` on ``[0, t_max]`` and weights ``(K,)``: trapezoid rule doubled for the
    symmetric half-line, times the Gaussian window ``exp(-t^2/2)``."""
    t = torch.linspace(0.0, t_max, knots, dtype=torch.float32)
    dt = t_max / (knots - 1)
    weights = torch.full((knots,), 2 * dt)
    weights[[0, -1]] = dt
    return t, weights * torch.exp(-t.square() / 2)


def sigreg(
    z: torch.Tensor, *, seed: int, slices: int = 256, knots: int = 17, t_max: float = 3.0
) -> torch.Tensor:
    """SIGReg loss of embeddings ``z (N, D)`` (a scalar); the global batch under torch.distributed."""
    if z.ndim != 2:
        raise ValueError(f"sigreg expects embeddings of shape (N, D), got {tuple(z.shape)}")
    with torch.autocast(device_type=z.device.type, enabled=False):
        z = z.float()
        t, weights = (v.to(z.device) for v in quadrature(knots, t_max))
        x = z @ random_slices(z.shape[1], slices, seed, z.device)  # (N, M)
        tx = x[..., None] * t  # (N, M, K)
        n = global_sum(torch.tensor(float(z.shape[0]), device=z.device).detach())
        cos_mean = global_sum(torch.cos(tx).sum(0)) / n
        sin_mean = global_sum(torch.sin(tx).sum(0)) / n
        gap = (cos_mean - torch.exp(-t.square() / 2)).square() + sin_mean.square()  # (M, K)
        return ((gap @ weights) * n).mean()
