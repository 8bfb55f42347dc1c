"""Vision Transformer encoder without a CLS token, as I-JEPA uses it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from openjepa.modalities.patches import PatchEmbed2d
from openjepa.nn.attention import key_padding_mask
from openjepa.nn.block import Block, init_weights, rescale_residual_branches
from openjepa.nn.posembed import sincos_grid

# width, depth, heads, mlp_ratio of the standard sizes
VIT_SIZES: dict[str, tuple[int, int, int, float]] = {
    "tiny": (192, 12, 3, 4.0),
    "small": (384, 12, 6, 4.0),
    "base": (768, 12, 12, 4.0),
    "large": (1024, 24, 16, 4.0),
    "huge": (1280, 32, 16, 4.0),
    "giant": (1408, 40, 16, 48 / 11),
}


@dataclass
class ViTConfig:
    """Encoder shape. ``size`` picks a standard ViT; ``width``/``depth``/``heads``/``mlp_ratio`` override it."""

    size: Literal["tiny", "small", "base", "large", "huge", "giant"] = "tiny"
    patch_size: int = 16
    width: int | None = None
    depth: int | None = None
    heads: int | None = None
    mlp_ratio: float | None = None
    qkv_bias: bool = True
    norm_eps: float = 1e-6
    pos_embed: Literal["sincos", "learned"] = "sincos"

    def resolved(self) -> tuple[int, int, int, float]:
        """(width, depth, heads, mlp_ratio) after applying overrides to the size preset."""
        w, d, h, r = VIT_SIZES[self.size]
        return self.width or w, self.depth or d, self.heads or h, self.mlp_ratio or r


class ViT(nn.Module):
    """Images ``(B, C, H, W)`` -> token features ``(B, N, D)``, N = number of patches.

    ``pos_embed`` ``(1, N, D)`` covers the image size given at construction: a
    fixed sincos buffer, or a parameter when ``pos_embed="learned"`` (as in HF
    checkpoints). Other image sizes get a fresh sincos table, or a bicubic
    interpolation of the learned one.
    """

    def __init__(self, config: ViTConfig, in_chans: int, image_size: int | tuple[int, int]):
        super().__init__()
        width, depth, heads, mlp_ratio = config.resolved()
        self.config = config
        self.width = width
        self.in_chans = in_chans
        self.image_size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
        self.patch_embed = PatchEmbed2d(in_chans, width, config.patch_size)
        self.grid = self.patch_embed.grid(*self.image_size)
        table = sincos_grid(self.grid, width)[None]
        if config.pos_embed == "learned":
            self.pos_embed = nn.Parameter(table)
        else:
            self.register_buffer("pos_embed", table)
        self.blocks = nn.ModuleList(
            Block(width, heads, mlp_ratio, config.qkv_bias, config.norm_eps) for _ in range(depth)
        )
        self.norm = nn.LayerNorm(width, eps=config.norm_eps)
        self.apply(init_weights)
        # the patch projection is a linear map of the flattened patch: Xavier on that view (as in MAE), so
        # content is not swamped by the position table at init (0.02 would make it ~7x weaker)
        nn.init.xavier_uniform_(self.patch_embed.proj.weight.view(width, -1))
        rescale_residual_branches(self.blocks)

    def positions(self, grid: tuple[int, int]) -> torch.Tensor:
        """Position table ``(1, gh * gw, D)`` for a token grid."""
        if grid == self.grid:
            return self.pos_embed
        if self.config.pos_embed == "sincos":
            return sincos_grid(grid, self.width)[None].to(self.pos_embed)
        table = self.pos_embed.reshape(1, *self.grid, self.width).permute(0, 3, 1, 2)
        table = F.interpolate(table, size=grid, mode="bicubic", align_corners=False)
        return table.permute(0, 2, 3, 1).reshape(1, grid[0] * grid[1], self.width)

    def tokenize(self, images: torch.Tensor) -> torch.Tensor:
        """Patch tokens plus positions: ``(B, C, H, W) -> (B, N, D)``."""
        tokens = self.patch_embed(images)
        return tokens + self.positions(self.patch_embed.grid(images.shape[2], images.shape[3]))

    def encode(
        self,
        tokens: torch.Tensor,
        keep: torch.Tensor | None = None,
        keep_valid: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Run the blocks on ``tokens (B, N, D)``, or only on the tokens at ``keep (B, L)``.

        ``keep_valid (B, L)`` marks padding in ``keep`` (False = pad); pads are
        excluded from attention and their outputs are meaningless.
        """
        if keep is not None:
            tokens = torch.gather(tokens, 1, keep[..., None].expand(-1, -1, tokens.shape[-1]))
        mask = key_padding_mask(keep_valid)
        for block in self.blocks:
            tokens = block(tokens, mask)
        return self.norm(tokens)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.encode(self.tokenize(images))
