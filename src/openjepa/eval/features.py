"""Frozen features: encoder tokens (optionally mean-pooled) and raw pixels."""

from __future__ import annotations

import torch
from torch import nn

from openjepa.nn.batched import in_batches


def as_unit_float(x: torch.Tensor) -> torch.Tensor:
    """Pixels as float in [0, 1]: uint8 (0-255) divided by 255, floats (already in [0, 1]) as they are; never
    in place, so the caller's tensor is left unchanged."""
    return x.float().div(255) if x.dtype == torch.uint8 else x.float()


def encoder_features(encoder: nn.Module, normalize: nn.Module, images: torch.Tensor, *, pool: bool = True,
                     batch_size: int = 512, device: torch.device | str = "cpu", bf16: bool = False) -> torch.Tensor:
    """Images ``(N, C, H, W)`` (uint8, or float in [0, 1]) -> ``(N, D)`` mean-pooled features, or ``(N, T, D)``
    tokens if not ``pool``.

    Returned as float32 on the CPU.
    """

    def step(x: torch.Tensor) -> torch.Tensor:
        tokens = encoder(normalize(as_unit_float(x))).float()
        return tokens.mean(1) if pool else tokens

    return in_batches(encoder, images, step, batch_size=batch_size, device=device, bf16=bf16)


def raw_features(images: torch.Tensor) -> torch.Tensor:
    """Images ``(N, C, H, W)`` (uint8, or float in [0, 1]) -> flattened pixels ``(N, C*H*W)`` in [0, 1]."""
    return as_unit_float(images.reshape(len(images), -1))

