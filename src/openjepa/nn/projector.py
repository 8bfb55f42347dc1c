"""MLP projector head for pooled embeddings ``(N, D_in) -> (N, D_out)``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from openjepa.nn.collectives import global_sum, world_size


@dataclass
class ProjectorConfig:
    """``layers`` linear layers; hidden ones are followed by ``norm`` and GELU."""

    hidden: int = 2048
    out: int = 128
    layers: int = 3
    norm: Literal["batch", "layer", "none"] = "batch"


class GlobalBatchNorm1d(nn.BatchNorm1d):
    """BatchNorm over the global batch: ``(N, C) -> (N, C)``.

    Under torch.distributed the batch statistics are all-reduced with gradients,
    so outputs and gradients equal those of one process holding the whole global
    batch (a plain BatchNorm normalises each rank's shard on its own, and
    SyncBatchNorm does not run on CPU). In one process it is ``nn.BatchNorm1d``.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or world_size() == 1:
            return super().forward(x)
        xf = x.float()
        n = global_sum(xf.new_tensor(float(x.shape[0])))
        mean = global_sum(xf.sum(0)) / n
        var = global_sum((xf - mean).square().sum(0)) / n
        with torch.no_grad():
            self.num_batches_tracked += 1
            self.running_mean.lerp_(mean, self.momentum)
            self.running_var.lerp_(var * n / (n - 1), self.momentum)
        return (xf - mean) * torch.rsqrt(var + self.eps) * self.weight + self.bias


def build_projector(config: ProjectorConfig, in_dim: int) -> nn.Sequential:
    if config.layers < 1:
        raise ValueError(f"projector.layers must be >= 1, got {config.layers}")
    norms = {"batch": GlobalBatchNorm1d, "layer": nn.LayerNorm, "none": lambda _: nn.Identity()}
    layers: list[nn.Module] = []
    width = in_dim
    for _ in range(config.layers - 1):
        layers += [nn.Linear(width, config.hidden), norms[config.norm](config.hidden), nn.GELU()]
        width = config.hidden
    layers.append(nn.Linear(width, config.out))
    return nn.Sequential(*layers)
