"""Frozen features: encoder tokens (optionally mean-pooled) and raw pixels."""

from __future__ import annotations

import contextlib

import torch
from torch import nn


@torch.no_grad()
def encoder_features(encoder: nn.Module, normalize: nn.Module, images: torch.Tensor, *, pool: bool = True,
                     batch_size: int = 512, device: torch.device | str = "cpu", bf16: bool = False) -> torch.Tensor:
    """uint8 images ``(N, C, H, W)`` -> ``(N, D)`` mean-pooled features, or ``(N, T, D)`` tokens if not ``pool``.

    Returned as float32 on the CPU.
    """
    was_training = encoder.training
    encoder.eval()
    device = torch.device(device)
    cast = torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
    out = []
    with cast:
        for start in range(0, len(images), batch_size):
            x = images[start : start + batch_size].to(device).float().div_(255)
            tokens = encoder(normalize(x)).float()
            out.append((tokens.mean(1) if pool else tokens).cpu())
    encoder.train(was_training)
    return torch.cat(out)


def raw_features(images: torch.Tensor) -> torch.Tensor:
    """uint8 images ``(N, C, H, W)`` -> flattened pixels ``(N, C*H*W)`` in [0, 1]."""
    return images.reshape(len(images), -1).float().div_(255)
