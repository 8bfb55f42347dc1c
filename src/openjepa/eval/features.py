"""Frozen features: encoder tokens (optionally mean-pooled) and raw pixels."""

from __future__ import annotations

import contextlib

import torch
from torch import nn


def as_unit_float(x: torch.Tensor) -> torch.Tensor:
    """Pixels as float in [0, 1]: uint8 (0-255) divided by 255, floats (already in [0, 1]) as they are; never
    in place, so the caller's tensor is left unchanged."""
    return x.float().div(255) if x.dtype == torch.uint8 else x.float()


@torch.no_grad()
def encoder_features(encoder: nn.Module, normalize: nn.Module, images: torch.Tensor, *, pool: bool = True,
                     batch_size: int = 512, device: torch.device | str = "cpu", bf16: bool = False) -> torch.Tensor:
    """Images ``(N, C, H, W)`` (uint8, or float in [0, 1]) -> ``(N, D)`` mean-pooled features, or ``(N, T, D)``
    tokens if not ``pool``.

    Returned as float32 on the CPU.
    """
    was_training = encoder.training
    encoder.eval()
    device = torch.device(device)
    cast = torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
    out = []
    with cast:
        for start in range(0, len(images), batch_size):
            x = as_unit_float(images[start : start + batch_size].to(device))
            tokens = encoder(normalize(x)).float()
            out.append((tokens.mean(1) if pool else tokens).cpu())
    encoder.train(was_training)
    return torch.cat(out)


def raw_features(images: torch.Tensor) -> torch.Tensor:
    """Images ``(N, C, H, W)`` (uint8, or float in [0, 1]) -> flattened pixels ``(N, C*H*W)`` in [0, 1]."""
    return as_unit_float(images.reshape(len(images), -1))

