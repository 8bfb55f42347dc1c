"""Normalisations of target features ``(B, N, D)`` before the distance is taken."""

from __future__ import annotations

from typing import Literal

import torch
import torch.distributed as dist
import torch.nn.functional as F

TargetNorm = Literal["layer", "batch", "none"]


def _global_mean(x: torch.Tensor, count: int) -> torch.Tensor:
    """Sum of ``x`` over dim 0 across all ranks, divided by the global ``count`` (no gradient)."""
    total = x.sum(0)
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        dist.all_reduce(total)
        count *= dist.get_world_size()
    return total / count


def batch_standardize(targets: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Centre each (position, feature) over the batch, then scale each feature to unit std.

    Removes what every image shares at a position (the position signal), so the
    targets carry only what differs between images. Statistics cover the global
    batch under torch.distributed and are constants for autograd (gradients,
    where targets have them, flow through the features only). ``(B, N, D) -> (B, N, D)``.
    """
    x = targets.float()
    B, N, D = x.shape
    with torch.no_grad():
        mean = _global_mean(x, B)
        var = _global_mean((x - mean).square().reshape(B * N, D), B * N)
    return ((x - mean) / (var + eps).sqrt()).to(targets.dtype)


def normalize_targets(targets: torch.Tensor, kind: TargetNorm) -> torch.Tensor:
    """``layer``: per-token LayerNorm without affine (I-JEPA); ``batch``: :func:`batch_standardize`."""
    if kind == "layer":
        return F.layer_norm(targets, targets.shape[-1:])
    if kind == "batch":
        return batch_standardize(targets)
    if kind == "none":
        return targets
    raise ValueError(f"unknown target normalisation '{kind}'; expected layer, batch or none")
