"""Normalisations of target features ``(B, N, D)`` before the distance is taken."""

from __future__ import annotations

from typing import Literal

import torch
import torch.distributed as dist
import torch.nn.functional as F

from openjepa.nn.collectives import world_size

TargetNorm = Literal["layer", "batch", "none"]


def _global_mean(x: torch.Tensor, count: int) -> torch.Tensor:
    """Sum of ``x`` over dim 0 across all ranks, divided by the global ``count`` (no gradient)."""
    total = x.sum(0)
    if world_size() > 1:
        dist.all_reduce(total)
    return total / (count * world_size())


def batch_centre(targets: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """LayerNorm each token, centre each (position, feature) over the batch, divide by the global RMS.

    Removes what every image shares at a position (the position signal and, on
    sparse images, the blank background), which would otherwise dominate the
    targets and let the loss fall by shrinking the content; the global RMS keeps
    the content's total energy fixed without amplifying any single near-constant
    feature. Statistics cover the global batch under torch.distributed and are
    constants for autograd. ``(B, N, D) -> (B, N, D)``.
    """
    x = F.layer_norm(targets.float(), targets.shape[-1:])
    B = x.shape[0]
    with torch.no_grad():
        mean = _global_mean(x, B)
        rms = _global_mean((x - mean).square().mean(dim=(1, 2)), B).sqrt()
    return ((x - mean) / (rms + eps)).to(targets.dtype)


def normalize_targets(targets: torch.Tensor, kind: TargetNorm) -> torch.Tensor:
    """``layer``: per-token LayerNorm without affine (I-JEPA); ``batch``: :func:`batch_centre`."""
    if kind == "layer":
        return F.layer_norm(targets, targets.shape[-1:])
    if kind == "batch":
        return batch_centre(targets)
    if kind == "none":
        return targets
    raise ValueError(f"unknown target normalisation '{kind}'; expected layer, batch or none")
