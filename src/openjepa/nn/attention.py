"""Multi-head self-attention."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from openjepa.nn.packing import Packing
from openjepa.nn.rope import apply_rope

RopeTables = tuple[torch.Tensor, torch.Tensor]  # (cos, sin), each (B or 1, 1, N, head_dim)


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, attn_mask: torch.Tensor | None) -> torch.Tensor:
    """``softmax(q k^T / sqrt(d)) v`` on ``(B, H, N, d)``.

    On the CPU in bf16/fp16 PyTorch's fused kernel is 5-9x slower than plain
    matmuls for ViT-sized heads (measured with torch 2.13, backward included), so
    that case takes the explicit path; everything else uses SDPA.
    """
    if q.device.type == "cpu" and q.dtype in (torch.bfloat16, torch.float16):
        scores = (q @ k.transpose(-2, -1)) * q.shape[-1] ** -0.5
        if attn_mask is not None:
            scores = scores.masked_fill(~attn_mask, float("-inf"))
        return scores.softmax(-1) @ v
    return F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)


def key_padding_mask(valid: torch.Tensor | None) -> torch.Tensor | None:
    """``valid (B, N)`` bool (True = real token) -> SDPA mask ``(B, 1, 1, N)``, or None if all valid."""
    if valid is None or bool(valid.all()):
        return None
    return valid[:, None, None, :]


class Attention(nn.Module):
    """Self-attention ``(B, N, D) -> (B, N, D)`` with a fused qkv projection.

    ``attn_mask`` is a bool tensor broadcastable to ``(B, heads, N, N)``; True means "may attend".
    ``rope``: rotary tables (see :mod:`openjepa.nn.rope`) applied to queries and keys.
    ``packing``: ``x`` is packed ``(T, D)`` (:mod:`openjepa.nn.packing`); masks and tables stay in the padded layout.
    """

    def __init__(self, dim: int, heads: int, qkv_bias: bool = True):
        super().__init__()
        if dim % heads:
            raise ValueError(f"width {dim} is not divisible by {heads} heads")
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor | None = None,
                rope: RopeTables | None = None, packing: Packing | None = None) -> torch.Tensor:
        qkv = self.qkv(x)
        if packing is not None:
            qkv = packing.unpack(qkv)
        B, N, D3 = qkv.shape
        D = D3 // 3
        q, k, v = qkv.view(B, N, 3, self.heads, D // self.heads).permute(2, 0, 3, 1, 4)
        if rope is not None:
            q, k = apply_rope(q, *rope), apply_rope(k, *rope)
        out = attention(q, k, v, attn_mask).transpose(1, 2).reshape(B, N, D)
        return self.proj(out if packing is None else packing.pack(out))
