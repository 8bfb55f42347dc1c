"""MLP projector head for pooled embeddings ``(N, D_in) -> (N, D_out)``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from torch import nn


@dataclass
class ProjectorConfig:
    """``layers`` linear layers; hidden ones are followed by ``norm`` and GELU."""

    hidden: int = 2048
    out: int = 128
    layers: int = 3
    norm: Literal["batch", "layer", "none"] = "batch"


def build_projector(config: ProjectorConfig, in_dim: int) -> nn.Sequential:
    if config.layers < 1:
        raise ValueError(f"projector.layers must be >= 1, got {config.layers}")
    norms = {"batch": nn.BatchNorm1d, "layer": nn.LayerNorm, "none": lambda _: nn.Identity()}
    layers: list[nn.Module] = []
    width = in_dim
    for _ in range(config.layers - 1):
        layers += [nn.Linear(width, config.hidden), norms[config.norm](config.hidden), nn.GELU()]
        width = config.hidden
    layers.append(nn.Linear(width, config.out))
    return nn.Sequential(*layers)
