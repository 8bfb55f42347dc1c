"""Mask-token predictor: context features + target positions -> predicted target features."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from openjepa.nn.block import Block, init_weights, rescale_residual_branches
from openjepa.nn.latent import Conditioning
from openjepa.nn.packing import Packing
from openjepa.nn.posembed import sincos_grid
from openjepa.nn.rope import grid_coords, rope_tables


@dataclass
class PredictorConfig:
    """A narrow ViT run over context tokens and one mask token per target position.

    ``pos_embed``: a fixed sincos table added to every token, or RoPE (V-JEPA 2) on their grid
    positions; ``rope_reference_quirk`` as in :class:`~openjepa.nn.vit.ViTConfig`.
    ``qkv_bias`` and ``norm_eps`` as in the encoder (HF V-JEPA 2 shares them).
    """

    width: int = 384
    depth: int = 12
    heads: int = 12
    mlp_ratio: float = 4.0
    pos_embed: Literal["sincos", "rope"] = "sincos"
    rope_reference_quirk: bool = False
    qkv_bias: bool = True
    norm_eps: float = 1e-6


def gather_tokens(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``x (B, N, D)`` at ``index (B, L)`` -> ``(B, L, D)``."""
    return torch.gather(x, 1, index[..., None].expand(-1, -1, x.shape[-1]))


def block_attention_mask(num_ctx: int, num_blocks: int, block_len: int,
                         valid: torch.Tensor | None) -> torch.Tensor | None:
    """Bool mask ``(B or 1, 1, L, L)`` over ``[context, block 1, ..., block K]`` (True = may attend), or None.

    One block (V-JEPA, HF V-JEPA 2): every token sees every real token. Several
    blocks (I-JEPA): context tokens see context only and each block's queries see
    the context and their own block, so blocks are predicted independently in one
    pass. (The I-JEPA code runs one pass per block, in which context tokens also
    see that block's mask tokens; here the context is shared by all blocks.)
    """
    if num_blocks == 1:
        return None if valid is None else valid[:, None, None, :]
    group = torch.cat([torch.zeros(num_ctx, dtype=torch.long),
                       torch.arange(1, num_blocks + 1).repeat_interleave(block_len)])
    allowed = (group[None, :] == 0) | (group[None, :] == group[:, None])  # (L, L): query row, key column
    if valid is None:
        return allowed[None, None]
    return allowed[None, None].to(valid.device) & valid[:, None, None, :]


class MaskTokenPredictor(nn.Module):
    """Predict encoder features at target positions from context features.

    Inputs: context features ``ctx (B, Lc, D_enc)`` at grid indices ``ctx_idx (B, Lc)``
    and ``K`` target blocks ``tgt_idx (B, K, Lt)``. Output: ``(B, K, Lt, D_enc)``.
    Index sets may be padded; ``ctx_valid (B, Lc)`` / ``tgt_valid (B, K, Lt)`` mark
    real entries; the blocks run on the real tokens only (:mod:`openjepa.nn.packing`). All blocks share one
    sequence; see :func:`block_attention_mask`.
    ``num_mask_tokens``: learned mask tokens, one per masking configuration (V-JEPA
    draws short- and long-range masks); ``forward(mask_index=m)`` picks token ``m``.
    ``levels``: predict that many encoder layers at once (V-JEPA 2.1's deep
    supervision): the output width is ``levels * D_enc``.
    """

    def __init__(self, config: PredictorConfig, enc_dim: int, grid: tuple[int, ...], num_mask_tokens: int = 1,
                 levels: int = 1):
        super().__init__()
        self.config = config
        self.grid = tuple(grid)
        self.embed = nn.Linear(enc_dim, config.width)
        self.mask_tokens = nn.Parameter(torch.zeros(num_mask_tokens, 1, config.width))
        if config.pos_embed == "sincos":
            self.register_buffer("pos_embed", sincos_grid(self.grid, config.width)[None])
        self.blocks = nn.ModuleList(Block(config.width, config.heads, config.mlp_ratio, config.qkv_bias,
                                          config.norm_eps) for _ in range(config.depth))
        self.norm = nn.LayerNorm(config.width, eps=config.norm_eps)
        self.proj = nn.Linear(config.width, enc_dim * levels)
        self.apply(init_weights)
        nn.init.trunc_normal_(self.mask_tokens, std=0.02)
        rescale_residual_branches(self.blocks)

    def forward(
        self,
        ctx: torch.Tensor,
        ctx_idx: torch.Tensor,
        tgt_idx: torch.Tensor,
        ctx_valid: torch.Tensor | None = None,
        tgt_valid: torch.Tensor | None = None,
        mask_index: int = 0,
        with_context: bool = False,
        positions: torch.Tensor | None = None,
        condition: Conditioning | None = None,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Predictions ``(B, K, Lt, levels * D_enc)``; with ``with_context`` also ``(B, Lc, levels * D_enc)``
        at the context positions (V-JEPA 2.1's dense loss). ``positions (B, N, width)``: per-sample position
        embeddings of every token id, used instead of the grid's (point clouds: embeddings of group centres).
        ``condition``: a latent variable's (:mod:`openjepa.nn.latent`): its embedding ``(B, width)`` is added to
        every query, its readout to every prediction."""
        B, K, Lt = tgt_idx.shape
        Lc = ctx.shape[1]
        idx = torch.cat([ctx_idx, tgt_idx.reshape(B, K * Lt)], dim=1)  # (B, Lc + K Lt)
        queries = self.mask_tokens[mask_index].expand(B, K * Lt, -1)
        if condition is not None:
            queries = queries + condition.embedding[:, None]
        x = torch.cat([self.embed(ctx), queries], dim=1)
        rope = None
        if positions is not None:
            x = x + gather_tokens(positions, idx)
        elif self.config.pos_embed == "sincos":
            x = x + gather_tokens(self.pos_embed.expand(B, -1, -1), idx)
        else:
            cos, sin = rope_tables(grid_coords(self.grid).to(x.device)[idx], self.config.width // self.config.heads,
                                   reference_quirk=self.config.rope_reference_quirk)
            rope = cos[:, None], sin[:, None]
        valid = None
        if ctx_valid is not None or tgt_valid is not None:
            valid = torch.cat([
                ctx_valid if ctx_valid is not None else torch.ones(B, Lc, dtype=torch.bool, device=x.device),
                tgt_valid.reshape(B, K * Lt) if tgt_valid is not None
                else torch.ones(B, K * Lt, dtype=torch.bool, device=x.device),
            ], dim=1)
        mask = block_attention_mask(Lc, K, Lt, valid)
        mask = mask if mask is None else mask.to(x.device)
        packing = Packing.of(valid)
        if packing is not None:
            x = packing.pack(x)
        for block in self.blocks:
            x = block(x, mask, rope, packing)
        if packing is not None:
            x = packing.unpack(x)
        if with_context:
            out = self.proj(self.norm(x))
            return out[:, Lc:].reshape(B, K, Lt, -1), out[:, :Lc]
        hidden = self.norm(x[:, Lc:])
        out = self.proj(hidden) if condition is None else self.proj(hidden) + condition.readout(hidden)
        return out.reshape(B, K, Lt, -1)
