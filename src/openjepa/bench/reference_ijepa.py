"""A minimal re-implementation of the reference I-JEPA training step, written for ``openjepa bench --vs-reference``.

Same maths as the reference code, not its text: a ViT with a convolutional patch embedding and a fixed sincos table,
explicit attention (``softmax(q k^T / sqrt(d)) v`` as matmuls), a predictor that runs one sequence per target block
with the context repeated for each block (so context tokens also attend to that block's mask tokens), the target
encoder's layer-normed tokens gathered per block, smooth L1, plain AdamW (its default per-parameter loop on a CPU)
and an EMA written as a loop over parameters. It shares no module with the library (only the values of its sincos
position table), so the ratio of the two step times measures the library's own work.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from openjepa.nn.posembed import sincos_grid


class _Attention(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, N, D = x.shape
        q, k, v = self.qkv(x).reshape(B, N, 3, self.heads, D // self.heads).permute(2, 0, 3, 1, 4)
        attn = (q @ k.transpose(-2, -1)) * (D // self.heads) ** -0.5
        return self.proj((attn.softmax(-1) @ v).transpose(1, 2).reshape(B, N, D))


class _Block(nn.Module):
    def __init__(self, dim: int, heads: int, mlp_ratio: float = 4.0):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim, eps=1e-6), nn.LayerNorm(dim, eps=1e-6)
        self.attn = _Attention(dim, heads)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


def _apply_mask(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``x (B, N, D)`` at ``index (B, L)``."""
    return torch.gather(x, 1, index[..., None].expand(-1, -1, x.shape[-1]))


class ReferenceViT(nn.Module):
    """Images ``(B, C, H, W)`` -> tokens ``(B, N, D)``, or those at ``index (B, L)`` only (gathered after the
    position table, before the blocks)."""

    def __init__(self, image_size: int, patch: int, width: int, depth: int, heads: int, channels: int = 3):
        super().__init__()
        self.patch_embed = nn.Conv2d(channels, width, patch, stride=patch)
        grid = image_size // patch
        self.register_buffer("pos_embed", sincos_grid((grid, grid), width)[None])
        self.blocks = nn.ModuleList(_Block(width, heads) for _ in range(depth))
        self.norm = nn.LayerNorm(width, eps=1e-6)

    def forward(self, images: torch.Tensor, index: torch.Tensor | None = None) -> torch.Tensor:
        x = self.patch_embed(images).flatten(2).transpose(1, 2) + self.pos_embed
        if index is not None:
            x = _apply_mask(x, index)
        for block in self.blocks:
            x = block(x)
        return self.norm(x)


class ReferencePredictor(nn.Module):
    """Context ``(B, Lc, D)`` at ``ctx_idx (B, Lc)`` and target blocks ``tgt_idx (B, K, Lt)`` -> predictions
    ``(K B, Lt, D)``, block-major: one sequence per block, the context repeated."""

    def __init__(self, grid: int, enc_dim: int, width: int, depth: int, heads: int):
        super().__init__()
        self.embed = nn.Linear(enc_dim, width)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, width))
        self.register_buffer("pos_embed", sincos_grid((grid, grid), width)[None])
        self.blocks = nn.ModuleList(_Block(width, heads) for _ in range(depth))
        self.norm = nn.LayerNorm(width, eps=1e-6)
        self.proj = nn.Linear(width, enc_dim)

    def forward(self, context: torch.Tensor, ctx_idx: torch.Tensor, tgt_idx: torch.Tensor) -> torch.Tensor:
        B, K, Lt = tgt_idx.shape
        pos = self.pos_embed.expand(B, -1, -1)
        x = (self.embed(context) + _apply_mask(pos, ctx_idx)).repeat(K, 1, 1)  # (K B, Lc, W)
        blocks = tgt_idx.transpose(0, 1).reshape(K * B, Lt)
        queries = self.mask_token + _apply_mask(pos.repeat(K, 1, 1), blocks)
        x = torch.cat([x, queries], dim=1)
        for block in self.blocks:
            x = block(x)
        return self.proj(self.norm(x[:, -Lt:]))


class ReferenceStep:
    """One reference I-JEPA step on ``images (B, C, H, W)`` and equal-length masks ``ctx_idx (B, Lc)``,
    ``tgt_idx (B, K, Lt)``: target features, context encoding, predictor, smooth L1, AdamW, EMA."""

    def __init__(self, image_size: int, patch: int, width: int, depth: int, heads: int, predictor_width: int,
                 predictor_depth: int, predictor_heads: int, lr: float = 1e-3, weight_decay: float = 0.04,
                 momentum: float = 0.996, bf16: bool = False):
        self.encoder = ReferenceViT(image_size, patch, width, depth, heads)
        self.predictor = ReferencePredictor(image_size // patch, width, predictor_width, predictor_depth,
                                            predictor_heads)
        for module in (self.encoder, self.predictor):
            for m in module.modules():
                if isinstance(m, nn.Linear):
                    nn.init.trunc_normal_(m.weight, std=0.02)
                    nn.init.zeros_(m.bias)
        self.target = copy.deepcopy(self.encoder).requires_grad_(False)
        params = [*self.encoder.parameters(), *self.predictor.parameters()]
        self.optimizer = torch.optim.AdamW([
            {"params": [p for p in params if p.ndim > 1], "weight_decay": weight_decay},
            {"params": [p for p in params if p.ndim <= 1], "weight_decay": 0.0}], lr=lr)
        self.momentum, self.bf16 = momentum, bf16

    def __call__(self, images: torch.Tensor, ctx_idx: torch.Tensor, tgt_idx: torch.Tensor) -> float:
        B, K, Lt = tgt_idx.shape
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
            with torch.no_grad():
                h = self.target(images)
                h = F.layer_norm(h, (h.shape[-1],))
                h = _apply_mask(h.repeat(K, 1, 1), tgt_idx.transpose(0, 1).reshape(K * B, Lt))
            z = self.predictor(self.encoder(images, ctx_idx), ctx_idx, tgt_idx)
            loss = F.smooth_l1_loss(z, h)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        with torch.no_grad():
            for q, k in zip(self.encoder.parameters(), self.target.parameters()):
                k.mul_(self.momentum).add_((1.0 - self.momentum) * q.detach())
        return float(loss.detach())
