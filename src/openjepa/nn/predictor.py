"""Mask-token predictor: context features + target positions -> predicted target features."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from openjepa.nn.block import Block, init_weights, rescale_residual_branches
from openjepa.nn.posembed import sincos_grid


@dataclass
class PredictorConfig:
    """A narrow ViT run over context tokens and one mask token per target position."""

    width: int = 384
    depth: int = 12
    heads: int = 12
    mlp_ratio: float = 4.0


def gather_tokens(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``x (B, N, D)`` at ``index (B, L)`` -> ``(B, L, D)``."""
    return torch.gather(x, 1, index[..., None].expand(-1, -1, x.shape[-1]))


def block_attention_mask(groups: torch.Tensor, valid: torch.Tensor | None) -> torch.Tensor:
    """Bool mask ``(B or 1, 1, L, L)`` from a group id per token (True = may attend).

    ``groups (L,)``: 0 for context tokens, ``k >= 1`` for the queries of target
    block ``k``. Context tokens see context only; each block's queries see the
    context and their own block. Each block's prediction is thus independent of
    the others, exactly as if every block were predicted in a pass of its own.
    ``valid (B, L)`` marks padding (False), which nobody attends to.
    """
    allowed = (groups[None, :] == 0) | (groups[None, :] == groups[:, None])  # (L, L): query row, key column
    if valid is None:
        return allowed[None, None]
    return allowed[None, None].to(valid.device) & valid[:, None, None, :]


class MaskTokenPredictor(nn.Module):
    """Predict encoder features at target positions from context features.

    Inputs: context features ``ctx (B, Lc, D_enc)`` at grid indices ``ctx_idx (B, Lc)``
    and ``K`` target blocks ``tgt_idx (B, K, Lt)``. Output: ``(B, K, Lt, D_enc)``.
    Index sets may be padded; ``ctx_valid (B, Lc)`` / ``tgt_valid (B, K, Lt)`` mark
    real entries. All blocks share one sequence; see :func:`block_attention_mask`.
    ``global_query`` adds one learned query that sees the context only; with ``with_global=True`` the output is a pair: the block
    predictions and a whole-image prediction ``(B, D_enc)`` made from the context alone.
    """

    def __init__(self, config: PredictorConfig, enc_dim: int, grid: tuple[int, ...], global_query: bool = False):
        super().__init__()
        self.grid = tuple(grid)
        self.embed = nn.Linear(enc_dim, config.width)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, config.width))
        self.register_buffer("pos_embed", sincos_grid(self.grid, config.width)[None])
        self.blocks = nn.ModuleList(Block(config.width, config.heads, config.mlp_ratio) for _ in range(config.depth))
        self.norm = nn.LayerNorm(config.width, eps=1e-6)
        self.proj = nn.Linear(config.width, enc_dim)
        self.apply(init_weights)
        nn.init.trunc_normal_(self.mask_token, std=0.02)
        if global_query:
            self.global_token = nn.Parameter(torch.zeros(1, 1, config.width))
            nn.init.trunc_normal_(self.global_token, std=0.02)
        rescale_residual_branches(self.blocks)

    def forward(
        self,
        ctx: torch.Tensor,
        ctx_idx: torch.Tensor,
        tgt_idx: torch.Tensor,
        ctx_valid: torch.Tensor | None = None,
        tgt_valid: torch.Tensor | None = None,
        with_global: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        if with_global and not hasattr(self, "global_token"):
            raise ValueError("this predictor was built without a global query (global_query=False)")
        B, K, Lt = tgt_idx.shape
        Lc = ctx.shape[1]
        pos = self.pos_embed.expand(B, -1, -1)
        parts = [self.embed(ctx) + gather_tokens(pos, ctx_idx),
                 self.mask_token.expand(B, K * Lt, -1) + gather_tokens(pos, tgt_idx.reshape(B, K * Lt))]
        groups = [torch.zeros(Lc, dtype=torch.long), torch.arange(1, K + 1).repeat_interleave(Lt)]
        valid = [ctx_valid if ctx_valid is not None else ctx.new_ones(B, Lc, dtype=torch.bool),
                 tgt_valid.reshape(B, K * Lt) if tgt_valid is not None else ctx.new_ones(B, K * Lt, dtype=torch.bool)]
        if with_global:
            parts.append(self.global_token.expand(B, 1, -1))
            groups.append(torch.tensor([K + 1]))
            valid.append(ctx.new_ones(B, 1, dtype=torch.bool))
        x = torch.cat(parts, dim=1)
        has_padding = ctx_valid is not None or tgt_valid is not None
        mask = block_attention_mask(torch.cat(groups), torch.cat(valid, dim=1) if has_padding else None).to(x.device)
        for block in self.blocks:
            x = block(x, mask)
        out = self.proj(self.norm(x[:, Lc:]))
        blocks = out[:, : K * Lt].reshape(B, K, Lt, -1)
        return (blocks, out[:, -1]) if with_global else blocks
