"""Distances between predicted and target representations, per token."""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

Distance = Literal["l2", "smooth_l1", "l1", "cosine"]


def token_distance(pred: torch.Tensor, target: torch.Tensor, kind: Distance) -> torch.Tensor:
    """``(..., D), (..., D) -> (...)``: the distance of each token, averaged over features.

    ``l2`` is the mean squared error, ``smooth_l1`` uses beta 1 (the I-JEPA code's
    choice), ``cosine`` is ``1 - cos``.
    """
    if pred.shape != target.shape:
        raise ValueError(f"prediction {tuple(pred.shape)} and target {tuple(target.shape)} differ in shape")
    if kind == "l2":
        return (pred - target).square().mean(-1)
    if kind == "smooth_l1":
        return F.smooth_l1_loss(pred, target, reduction="none", beta=1.0).mean(-1)
    if kind == "l1":
        return (pred - target).abs().mean(-1)
    if kind == "cosine":
        return 1.0 - F.cosine_similarity(pred, target, dim=-1)
    raise ValueError(f"unknown distance '{kind}'; expected one of l2, smooth_l1, l1, cosine")


def masked_mean(values: torch.Tensor, valid: torch.Tensor | None) -> torch.Tensor:
    """Mean of ``values (..., L)`` over its valid entries along the last axis -> ``(...)``."""
    if valid is None:
        return values.mean(-1)
    weights = valid.to(values.dtype)
    return (values * weights).sum(-1) / weights.sum(-1).clamp_min(1.0)
