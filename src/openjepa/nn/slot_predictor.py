"""Causal-JEPA's predictor: a transformer over time x object slots that fills in hidden slots.

Every slot token is its slot embedded, or a learned mask token where the slot is hidden (a masked object's
history, every object's future), plus the time step's sincos embedding and the object's identity anchor (its slot
at t = 0 embedded, always seen), so a hidden object is still told apart from the others. Attention is not causal:
every token sees every other, over all time steps and objects.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from openjepa.nn.block import Block, init_weights, rescale_residual_branches
from openjepa.nn.posembed import sincos_1d


@dataclass
class SlotPredictorConfig:
    width: int = 128
    depth: int = 4
    heads: int = 4
    mlp_ratio: float = 4.0

    def validate(self) -> None:
        if min(self.width, self.depth, self.heads) < 1 or self.width % self.heads or self.width % 2:
            raise ValueError(f"predictor: width, depth and heads must be >= 1, width even and divisible by "
                             f"heads, got {self.width}, {self.depth}, {self.heads}")


class SlotPredictor(nn.Module):
    """``slots (B, T, N, F)`` and ``seen (B, T, N)`` (bool; time step 0 must be seen) -> predicted slots
    ``(B, T, N, F)`` at every position (the loss reads the hidden ones)."""

    def __init__(self, config: SlotPredictorConfig, slot_dim: int, steps: int):
        super().__init__()
        self.config, self.steps = config, steps
        width = config.width
        self.embed = nn.Linear(slot_dim, width)
        self.anchor = nn.Linear(slot_dim, width)
        self.mask_token = nn.Parameter(torch.zeros(width))
        self.register_buffer("time_embed", sincos_1d(torch.arange(steps), width), persistent=False)
        self.blocks = nn.ModuleList(Block(width, config.heads, config.mlp_ratio) for _ in range(config.depth))
        self.norm = nn.LayerNorm(width, eps=1e-6)
        self.head = nn.Linear(width, slot_dim)
        self.apply(init_weights)
        nn.init.trunc_normal_(self.mask_token, std=0.02)
        rescale_residual_branches(self.blocks)

    def forward(self, slots: torch.Tensor, seen: torch.Tensor) -> torch.Tensor:
        B, T, N, F = slots.shape
        if T > self.steps:
            raise ValueError(f"the slot predictor was built for {self.steps} time steps, got {T}")
        if not seen[:, 0].all():
            raise ValueError("every object's slot at t = 0 must be seen: it is the object's identity anchor")
        x = torch.where(seen[..., None], self.embed(slots), self.mask_token.to(slots.dtype))
        x = x + self.time_embed[:T, None].to(x.dtype) + self.anchor(slots[:, :1])
        x = x.reshape(B, T * N, -1)
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x)).reshape(B, T, N, F)
