"""3D-JEPA's context-aware decoder: the encoder's context is read afresh by every layer of the predictor."""

from __future__ import annotations

import torch
from torch import nn

from openjepa.nn.block import Block, init_weights, rescale_residual_branches
from openjepa.nn.predictor import PredictorConfig, block_attention_mask, gather_tokens


class ContextAwarePredictor(nn.Module):
    """Queries (a learned mask token plus the position of each target token) pass ``depth`` blocks; before each
    block the encoder's context tokens, mapped by that layer's own linear map and placed at their positions, are
    put beside them, so every layer attends to the context itself rather than to what earlier layers made of it.
    Only the queries go on from layer to layer. Target blocks are predicted independently (each block's queries
    see the context and their own block; :func:`~openjepa.nn.predictor.block_attention_mask`).

    ``forward(ctx (B, Lc, D_enc), ctx_idx (B, Lc), tgt_idx (B, K, Lt), ctx_valid, tgt_valid, positions)`` ->
    ``(B, K, Lt, D_enc)``; ``positions (B, N, width)``: position embeddings of every token id.
    """

    def __init__(self, config: PredictorConfig, enc_dim: int):
        super().__init__()
        self.config = config
        self.context_maps = nn.ModuleList(nn.Linear(enc_dim, config.width) for _ in range(config.depth))
        self.mask_token = nn.Parameter(torch.zeros(1, 1, config.width))
        self.blocks = nn.ModuleList(Block(config.width, config.heads, config.mlp_ratio, config.qkv_bias,
                                          config.norm_eps) for _ in range(config.depth))
        self.norm = nn.LayerNorm(config.width, eps=config.norm_eps)
        self.proj = nn.Linear(config.width, enc_dim)
        self.apply(init_weights)
        nn.init.trunc_normal_(self.mask_token, std=0.02)
        rescale_residual_branches(self.blocks)

    def forward(self, ctx: torch.Tensor, ctx_idx: torch.Tensor, tgt_idx: torch.Tensor,
                ctx_valid: torch.Tensor | None = None, tgt_valid: torch.Tensor | None = None, *,
                positions: torch.Tensor) -> torch.Tensor:
        B, K, Lt = tgt_idx.shape
        Lc = ctx.shape[1]
        queries = self.mask_token + gather_tokens(positions, tgt_idx.reshape(B, K * Lt))
        ctx_pos = gather_tokens(positions, ctx_idx)
        valid = None
        if ctx_valid is not None or tgt_valid is not None:
            ones = torch.ones(B, Lc + K * Lt, dtype=torch.bool, device=ctx.device)
            valid = torch.cat([ctx_valid if ctx_valid is not None else ones[:, :Lc],
                               tgt_valid.reshape(B, -1) if tgt_valid is not None else ones[:, Lc:]], dim=1)
        mask = block_attention_mask(Lc, K, Lt, valid)
        mask = mask if mask is None else mask.to(ctx.device)
        for context_map, block in zip(self.context_maps, self.blocks):
            queries = block(torch.cat([context_map(ctx) + ctx_pos, queries], dim=1), mask)[:, Lc:]
        return self.proj(self.norm(queries)).reshape(B, K, Lt, -1)
