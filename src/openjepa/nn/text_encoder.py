"""A transformer over word ids: learned word embeddings and positions (a learned table, or rotary embeddings on
queries and keys with ``pos_embed: rope``), then pre-norm blocks; padding (id 0) is never attended to. The same two
steps as :class:`~openjepa.nn.vit.ViT` (``tokenize``, then ``encode`` on all tokens or on the ones kept), so masked
prediction reads it as it reads a ViT."""

from __future__ import annotations

import torch
from torch import nn

from openjepa.nn.attention import key_padding_mask
from openjepa.nn.batched import in_batches
from openjepa.nn.block import Block, init_weights, rescale_residual_branches
from openjepa.nn.rope import rope_for
from openjepa.nn.vit import ViTConfig


def trim_padding(ids: torch.Tensor) -> torch.Tensor:
    """Ids ``(B, L)`` cut to the batch's longest text ``(B, L')`` (texts are padded at their end): the columns cut
    hold only padding, which no token attends to."""
    return ids[:, : max(1, int((ids > 0).sum(1).max()))]


class TextEncoder(nn.Module):
    """Word ids ``(B, L)`` (long, 0 = padding) -> tokens ``(B, L, width)``; ``grid (L,)``."""

    def __init__(self, config: ViTConfig, vocab: int, length: int):
        super().__init__()
        width, depth, heads, mlp_ratio = config.resolved()
        self.config, self.width, self.heads, self.grid, self.vocab = config, width, heads, (length,), vocab
        self.in_chans = 1
        self.words = nn.Embedding(vocab, width)
        self.rotary = config.pos_embed == "rope"
        self.positions = None if self.rotary else nn.Parameter(torch.zeros(1, length, width))
        self.blocks = nn.ModuleList(Block(width, heads, mlp_ratio, config.qkv_bias, config.norm_eps)
                                    for _ in range(depth))
        self.norm = nn.LayerNorm(width, eps=config.norm_eps)
        self.apply(init_weights)
        nn.init.trunc_normal_(self.words.weight, std=0.02)
        if self.positions is not None:
            nn.init.trunc_normal_(self.positions, std=0.02)
        rescale_residual_branches(self.blocks)

    def tokenize(self, ids: torch.Tensor) -> torch.Tensor:
        """``(B, L)`` ids -> ``(B, L, width)`` word embeddings (plus positions, unless rotary)."""
        tokens = self.words(ids)
        return tokens if self.rotary else tokens + self.positions[:, : ids.shape[1]]

    def encode(self, tokens: torch.Tensor, keep: torch.Tensor | None = None,
               keep_valid: torch.Tensor | None = None) -> torch.Tensor:
        """The blocks on ``tokens (B, L, D)`` or on those at ``keep (B, K)``; ``keep_valid (B, K)``: False marks
        entries never attended to (padding)."""
        rope = None
        if self.rotary:
            rope = rope_for((tokens.shape[1],), keep, self.width // self.heads, self.config.rope_base,
                            device=tokens.device)
        if keep is not None:
            tokens = torch.gather(tokens, 1, keep[..., None].expand(-1, -1, tokens.shape[-1]))
        mask = key_padding_mask(keep_valid)
        for block in self.blocks:
            tokens = block(tokens, mask, rope)
        return self.norm(tokens)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.encode(self.tokenize(ids), keep_valid=ids > 0)


def text_embeddings(encoder: TextEncoder, ids: torch.Tensor, *, pool: bool = True, batch_size: int = 512,
                    device: torch.device | str = "cpu", bf16: bool = False) -> torch.Tensor:
    """Token ids ``(N, L)`` (0 pads) -> each text's mean token feature ``(N, D)`` (padding left out), or with
    ``pool=False`` the token features ``(N, L, D)`` (zeros at padding); float32 on the CPU."""

    def step(batch: torch.Tensor) -> torch.Tensor:
        batch = trim_padding(batch)
        real = (batch > 0).unsqueeze(-1).float()
        tokens = encoder(batch).float() * real
        if pool:
            return tokens.sum(1) / real.sum(1).clamp_min(1)
        return torch.nn.functional.pad(tokens, (0, 0, 0, ids.shape[1] - tokens.shape[1]))

    return in_batches(encoder, ids, step, batch_size=batch_size, device=device, bf16=bf16)
