"""Running a network over many inputs for its outputs only: batch by batch, in eval mode, without gradients."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import torch
from torch import nn


@torch.no_grad()
def in_batches(network: nn.Module, inputs: torch.Tensor, step: Callable[[torch.Tensor], torch.Tensor], *,
               batch_size: int = 512, device: torch.device | str = "cpu", bf16: bool = False) -> torch.Tensor:
    """``step(batch)`` on ``inputs`` ``(N, ...)`` moved to ``device`` ``batch_size`` at a time, ``network`` in eval
    mode (its mode restored after) and under bf16 autocast when ``bf16``; the results concatenated, float32 on the
    CPU."""
    was_training = network.training
    network.eval()
    device = torch.device(device)
    cast = torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
    out = []
    with cast:
        for start in range(0, len(inputs), batch_size):
            out.append(step(inputs[start : start + batch_size].to(device)).float().cpu())
    network.train(was_training)
    return torch.cat(out)
