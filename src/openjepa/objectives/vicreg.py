"""VICReg terms (variance, invariance, covariance), each on ``(N, D)`` embeddings."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class VarCovConfig:
    """VICReg's variance and covariance terms on one set of embeddings, ``weight * (var * v + cov * c)`` (0: off).
    With no second view there is no invariance term (H-JEPA's reference applies one between two halves of a
    batch, which are different images)."""

    weight: float = 0.0
    var: float = 25.0
    cov: float = 1.0

    def validate(self) -> None:
        if min(self.weight, self.var, self.cov) < 0:
            raise ValueError(f"varcov weights must be >= 0, got {self.weight}, {self.var}, {self.cov}")


def variance_loss(z: torch.Tensor, gamma: float = 1.0, eps: float = 1e-4) -> torch.Tensor:
    """Hinge on each dimension's standard deviation: ``mean(relu(gamma - std))``."""
    std = torch.sqrt(z.var(dim=0) + eps)
    return F.relu(gamma - std).mean()


def covariance_loss(z: torch.Tensor) -> torch.Tensor:
    """Sum of squared off-diagonal covariances, divided by D."""
    n, d = z.shape
    z = z - z.mean(dim=0)
    cov = (z.T @ z) / (n - 1)
    off = cov - torch.diag(torch.diagonal(cov))
    return off.square().sum() / d


def varcov_loss(z: torch.Tensor, config: VarCovConfig) -> torch.Tensor:
    """``var * variance + cov * covariance`` of embeddings ``(N, D)`` (unweighted by ``config.weight``)."""
    return config.var * variance_loss(z) + config.cov * covariance_loss(z)


def vicreg_loss(
    z1: torch.Tensor, z2: torch.Tensor, *, sim: float = 25.0, var: float = 25.0, cov: float = 1.0
) -> torch.Tensor:
    """VICReg between two views ``(N, D)``: sim * MSE + var * (v1 + v2)/2 + cov * (c1 + c2)."""
    if z1.shape != z2.shape or z1.ndim != 2:
        raise ValueError(f"vicreg expects two (N, D) tensors of one shape, got {tuple(z1.shape)}, {tuple(z2.shape)}")
    invariance = F.mse_loss(z1, z2)
    variance = (variance_loss(z1) + variance_loss(z2)) / 2
    covariance = covariance_loss(z1) + covariance_loss(z2)
    return sim * invariance + var * variance + cov * covariance
