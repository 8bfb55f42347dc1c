"""A query predictor: learned query tokens read a set of feature tokens through a small transformer and give one
vector (VL-JEPA's predictor, which turns what an encoder sees into the embedding of its description), or one output
per query (ACT-JEPA's decoder of an action chunk and the latents of the observations it leads to)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from openjepa.nn.block import Block, init_weights, rescale_residual_branches


@dataclass
class QueryPredictorConfig:
    """``queries`` learned tokens join the input tokens (projected to ``width``) through ``depth`` bidirectional
    blocks; the mean of the queries' outputs is projected to the output size."""

    width: int = 192
    depth: int = 2
    heads: int = 4
    queries: int = 1
    mlp_ratio: float = 4.0

    def validate(self) -> None:
        if min(self.width, self.depth, self.heads, self.queries) < 1:
            raise ValueError("method.predictor width, depth, heads and queries must be >= 1")
        if self.width % self.heads:
            raise ValueError(f"method.predictor.width {self.width} is not divisible by its {self.heads} heads")


class QueryPredictor(nn.Module):
    """``(B, N, in_dim)`` tokens -> ``(B, out_dim)``; :meth:`read` gives the queries' outputs ``(B, Q, width)``
    (``out_dim=None``: no output layer, for callers that only read)."""

    def __init__(self, config: QueryPredictorConfig, in_dim: int, out_dim: int | None):
        super().__init__()
        config.validate()
        self.embed = nn.Linear(in_dim, config.width)
        self.queries = nn.Parameter(torch.zeros(1, config.queries, config.width))
        self.blocks = nn.ModuleList(Block(config.width, config.heads, config.mlp_ratio) for _ in range(config.depth))
        self.norm = nn.LayerNorm(config.width, eps=1e-6)
        self.out = nn.Linear(config.width, out_dim) if out_dim else None
        self.apply(init_weights)
        nn.init.trunc_normal_(self.queries, std=0.02)
        rescale_residual_branches(self.blocks)

    def read(self, tokens: torch.Tensor) -> torch.Tensor:
        """The normalised outputs of the queries ``(B, Q, width)`` after reading ``tokens (B, N, in_dim)``."""
        x = torch.cat([self.queries.expand(len(tokens), -1, -1), self.embed(tokens)], dim=1)
        for block in self.blocks:
            x = block(x)
        return self.norm(x[:, : self.queries.shape[1]])

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.out(self.read(tokens).mean(1))
