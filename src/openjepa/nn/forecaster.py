"""A causal forecaster over frame latents (ThinkJEPA's dense predictor, V-JEPA-style): the latents of seen frames
and one query token per future frame, in time order, through a transformer whose attention is causal in time; each
token's output reads out the agent's position at its frame, and each query's the future frame's latent. Optional
per-layer FiLM guidance (:mod:`openjepa.nn.film`) from one condition per sample.

A seen frame's token is its latent embedded linearly (a latent is all of a frame's encoder tokens, flattened, so the
embedding reads where things are); a query is a learnt token. Each gets the sincos embedding of its frame's time, so
frames need not be consecutive (the thinker's frames are spread over the whole history). The whole horizon comes out
of one pass, each future frame from the seen frames and the queries before it, as V-JEPA's predictor fills its
mask tokens in one pass.
"""

from __future__ import annotations

import torch
from torch import nn

from openjepa.nn.block import Block, init_weights, rescale_residual_branches
from openjepa.nn.film import FiLMGuidance
from openjepa.nn.posembed import sincos_1d
from openjepa.nn.slot_predictor import SlotPredictorConfig


class ForecasterConfig(SlotPredictorConfig):
    """``depth`` blocks of ``width`` with ``heads`` heads, as the slot predictor's."""


class CausalForecaster(nn.Module):
    """Latents ``(B, L, Dz)`` of seen frames at times ``(L,)`` and future times ``(H,)`` (all increasing, below
    ``frames``) -> positions ``(B, L + H, 2)`` at every time and future latents ``(B, H, Do)`` (``out_dim`` Do,
    default Dz: another stream's latents may be the target). ``guidance_dim``: the size of a per-sample condition
    ``(B, C)`` that FiLM-guides every layer (0: none)."""

    def __init__(self, config: ForecasterConfig, latent_dim: int, frames: int, guidance_dim: int = 0,
                 out_dim: int | None = None):
        super().__init__()
        config.validate()
        width = config.width
        self.embed = nn.Linear(latent_dim, width)
        self.query = nn.Parameter(torch.zeros(width))
        self.register_buffer("time_embed", sincos_1d(torch.arange(frames), width), persistent=False)
        self.blocks = nn.ModuleList(Block(width, config.heads, config.mlp_ratio) for _ in range(config.depth))
        self.norm = nn.LayerNorm(width, eps=1e-6)
        self.position_head = nn.Linear(width, 2)
        self.latent_head = nn.Linear(width, out_dim or latent_dim)
        self.apply(init_weights)
        nn.init.trunc_normal_(self.query, std=0.02)
        rescale_residual_branches(self.blocks)
        self.guidance = FiLMGuidance(guidance_dim, width, config.depth) if guidance_dim else None

    def forward(self, latents: torch.Tensor, times: torch.Tensor, future: torch.Tensor,
                guidance: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        B, L, _ = latents.shape
        if (guidance is None) != (self.guidance is None):
            raise ValueError("pass a guidance condition exactly when the forecaster was built with guidance_dim")
        order = torch.cat([times, future])
        if len(times) != L or bool((order[1:] <= order[:-1]).any()):
            raise ValueError(f"need one increasing time per latent, then later future times; got {order.tolist()}")
        queries = self.query.to(latents.dtype).expand(B, len(future), -1)
        x = torch.cat([self.embed(latents), queries], 1) + self.time_embed[order].to(latents.dtype)
        causal = torch.ones(len(order), len(order), dtype=torch.bool, device=x.device).tril()
        modulations = [None] * len(self.blocks) if guidance is None else self.guidance.modulations(guidance)
        for block, modulation in zip(self.blocks, modulations):
            if modulation is not None:
                x = FiLMGuidance.apply(x, modulation)
            x = block(x, causal)
        x = self.norm(x)
        # positions in [0, 1]: the head learns the offset from the frame's centre
        return self.position_head(x) + 0.5, self.latent_head(x[:, L:])
