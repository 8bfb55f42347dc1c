"""A transformer over word ids: learned word and position embeddings, then pre-norm blocks; padding (id 0) is never
attended to. The same two steps as :class:`~openjepa.nn.vit.ViT` (``tokenize``, then ``encode`` on all tokens or on
the ones kept), so masked prediction reads it as it reads a ViT."""

from __future__ import annotations

import torch
from torch import nn

from openjepa.nn.attention import key_padding_mask
from openjepa.nn.block import Block, init_weights, rescale_residual_branches
from openjepa.nn.vit import ViTConfig


class TextEncoder(nn.Module):
    """Word ids ``(B, L)`` (long, 0 = padding) -> tokens ``(B, L, width)``; ``grid (L,)``."""

    def __init__(self, config: ViTConfig, vocab: int, length: int):
        super().__init__()
        width, depth, heads, mlp_ratio = config.resolved()
        self.config, self.width, self.grid, self.vocab = config, width, (length,), vocab
        self.in_chans = 1
        self.words = nn.Embedding(vocab, width)
        self.positions = nn.Parameter(torch.zeros(1, length, width))
        self.blocks = nn.ModuleList(Block(width, heads, mlp_ratio, config.qkv_bias, config.norm_eps)
                                    for _ in range(depth))
        self.norm = nn.LayerNorm(width, eps=config.norm_eps)
        self.apply(init_weights)
        nn.init.trunc_normal_(self.words.weight, std=0.02)
        nn.init.trunc_normal_(self.positions, std=0.02)
        rescale_residual_branches(self.blocks)

    def tokenize(self, ids: torch.Tensor) -> torch.Tensor:
        """``(B, L)`` ids -> ``(B, L, width)`` word plus position embeddings."""
        return self.words(ids) + self.positions[:, : ids.shape[1]]

    def encode(self, tokens: torch.Tensor, keep: torch.Tensor | None = None,
               keep_valid: torch.Tensor | None = None) -> torch.Tensor:
        """The blocks on ``tokens (B, L, D)`` or on those at ``keep (B, K)``; ``keep_valid (B, K)``: False marks
        entries never attended to (padding)."""
        if keep is not None:
            tokens = torch.gather(tokens, 1, keep[..., None].expand(-1, -1, tokens.shape[-1]))
        mask = key_padding_mask(keep_valid)
        for block in self.blocks:
            tokens = block(tokens, mask)
        return self.norm(tokens)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.encode(self.tokenize(ids), keep_valid=ids > 0)
