"""Vision Transformer encoder without a CLS token; the tokenizer it receives decides what it reads (image patches,
clip tubelets, ...)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from openjepa.nn.attention import RopeTables
from openjepa.nn.block import Block, init_weights, rescale_residual_branches
from openjepa.nn.packing import Packing
from openjepa.nn.posembed import sincos_grid
from openjepa.nn.rope import rope_for

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
    """Encoder shape. ``size`` picks a standard ViT; ``width``/``depth``/``heads``/``mlp_ratio`` override it.

    ``tubelet``: the tube length in frames of a video tokenizer (``(B, C, T, H, W)`` clips cut into
    ``tubelet x patch x patch`` tubes; V-JEPA: 2); None for images. ``pos_embed``: a fixed sincos table
    (equal share of the width per grid axis, V-JEPA's uniform-power split), a learned table, or
    ``rope`` (V-JEPA 2: rotary embeddings on queries and keys, no table), or ``none``: the tokenizer adds positions
    of its own (point clouds: an embedding of each group's centre);
    ``rope_reference_quirk`` reproduces the published V-JEPA 2 frequency layout (see :mod:`openjepa.nn.rope`).
    """

    size: Literal["tiny", "small", "base", "large", "huge", "giant"] = "tiny"
    patch_size: int = 16
    width: int | None = None
    depth: int | None = None
    heads: int | None = None
    mlp_ratio: float | None = None
    qkv_bias: bool = True
    norm_eps: float = 1e-6
    pos_embed: Literal["sincos", "learned", "rope", "none"] = "sincos"
    tubelet: int | None = None
    rope_base: float = 10000.0
    rope_reference_quirk: bool = False

    def validate(self) -> None:
        width, depth, heads, mlp_ratio = self.resolved()
        if min(width, depth, heads, self.patch_size) < 1 or mlp_ratio <= 0:
            raise ValueError(f"encoder width, depth, heads, patch_size and mlp_ratio must be positive, got "
                             f"{width}, {depth}, {heads}, {self.patch_size}, {mlp_ratio}")
        if width % heads:
            raise ValueError(f"encoder.width {width} is not divisible by encoder.heads {heads}")
        if self.tubelet is not None and self.tubelet < 1:
            raise ValueError(f"encoder.tubelet must be >= 1 (or null for images), got {self.tubelet}")

    def resolved(self) -> tuple[int, int, int, float]:
        """(width, depth, heads, mlp_ratio) after applying overrides to the size preset."""
        w, d, h, r = VIT_SIZES[self.size]
        return self.width or w, self.depth or d, self.heads or h, self.mlp_ratio or r


class ViT(nn.Module):
    """Inputs (images ``(B, C, H, W)``, clips ``(B, C, T, H, W)``) -> token features ``(B, N, D)``.

    ``tokenizer``: the module that cuts inputs into tokens ``(B, N, D)`` (``D`` the encoder's width), with
    ``grid(*input_size)`` giving their grid, ``in_chans`` and ``proj`` (the linear map of a flattened patch);
    the modality builds it. ``input_size`` (``(H, W)``, ``(T, H, W)``) fixes ``self.grid`` and the position
    table ``pos_embed (1, N, D)`` (a sincos buffer, or a parameter when ``pos_embed="learned"``). Other input
    sizes get a fresh sincos table, an interpolation of the learned one, or RoPE on their own grid.
    """

    def __init__(self, config: ViTConfig, tokenizer: nn.Module, input_size: tuple[int, ...]):
        super().__init__()
        width, depth, heads, mlp_ratio = config.resolved()
        self.config = config
        self.width = width
        self.heads = heads
        self.in_chans = tokenizer.in_chans
        self.input_size = tuple(int(v) for v in input_size)
        self.patch_embed = tokenizer
        self.grid = self.patch_embed.grid(*self.input_size)
        if config.pos_embed == "learned":
            self.pos_embed = nn.Parameter(sincos_grid(self.grid, width)[None])
        elif config.pos_embed == "sincos":
            self.register_buffer("pos_embed", sincos_grid(self.grid, width)[None])
        self.blocks = nn.ModuleList(
            Block(width, heads, mlp_ratio, config.qkv_bias, config.norm_eps) for _ in range(depth)
        )
        self.norm = nn.LayerNorm(width, eps=config.norm_eps)
        self.apply(init_weights)
        # the patch projection is a linear map of the flattened patch: Xavier on that view (as in MAE), so
        # content is not swamped by the position table at init (0.02 would make it ~7x weaker)
        nn.init.xavier_uniform_(self.patch_embed.proj.weight.view(width, -1))
        rescale_residual_branches(self.blocks)

    @property
    def image_size(self) -> tuple[int, int]:
        """``(H, W)`` of the inputs the encoder was built for."""
        return self.input_size[-2:]

    @property
    def reads_clips(self) -> bool:
        """Whether inputs have a time axis, ``(B, C, T, H, W)``."""
        return len(self.input_size) == 3

    def as_input(self, images: torch.Tensor) -> torch.Tensor:
        """Images ``(B, C, H, W)`` as this encoder reads them: as they are, or each repeated into one tubelet
        ``(B, C, tubelet, H, W)`` for a clip encoder."""
        if not self.reads_clips:
            return images
        return images[:, :, None].expand(-1, -1, self.config.tubelet, -1, -1)

    def input_grid(self, x: torch.Tensor) -> tuple[int, ...]:
        """Token grid of an input batch ``(B, C, [T,] H, W)``."""
        return self.patch_embed.grid(*x.shape[2:])

    def positions(self, grid: tuple[int, ...]) -> torch.Tensor:
        """Absolute position table ``(1, prod(grid), D)`` for a token grid (not used with RoPE)."""
        if grid == self.grid:
            return self.pos_embed
        if self.config.pos_embed == "sincos":
            return sincos_grid(grid, self.width)[None].to(self.pos_embed)
        mode = "bicubic" if len(grid) == 2 else "trilinear"
        table = self.pos_embed.reshape(1, *self.grid, self.width).movedim(-1, 1)
        table = F.interpolate(table, size=grid, mode=mode, align_corners=False)
        return table.movedim(1, -1).reshape(1, -1, self.width)

    def tokenize(self, x: torch.Tensor) -> torch.Tensor:
        """Patch (or tubelet) tokens plus absolute positions (unless RoPE, or the tokenizer, places them):
        ``(B, C, [T,] H, W) -> (B, N, D)``."""
        tokens = self.patch_embed(x)
        if self.config.pos_embed in ("rope", "none"):
            return tokens
        return tokens + self.positions(self.input_grid(x))

    def rope(self, grid: tuple[int, ...], keep: torch.Tensor | None, device: torch.device) -> RopeTables | None:
        """Rotary tables for the tokens at ``keep (B, L)`` of ``grid`` (all tokens if None); None without RoPE."""
        if self.config.pos_embed != "rope":
            return None
        return rope_for(grid, keep, self.width // self.heads, self.config.rope_base, self.config.rope_reference_quirk,
                        device)

    def encode(
        self,
        tokens: torch.Tensor,
        keep: torch.Tensor | None = None,
        keep_valid: torch.Tensor | None = None,
        grid: tuple[int, ...] | None = None,
        layers: tuple[int, ...] = (),
    ) -> torch.Tensor | list[torch.Tensor]:
        """Run the blocks on ``tokens (B, N, D)``, or only on the tokens at ``keep (B, L)``.

        ``keep_valid (B, L)`` marks padding in ``keep`` (False = pad); pads are
        excluded from attention and skipped by everything else (the blocks run on
        the real tokens packed, :mod:`openjepa.nn.packing`); their outputs are zeros. ``grid``: the
        token grid (default ``self.grid``), needed for RoPE. ``layers``: also return
        the hidden states after these blocks (1-based; without the final norm):
        the result is then ``[normed output, *hidden states]``.
        """
        rope = self.rope(grid or self.grid, keep, tokens.device)
        if keep is not None:
            tokens = torch.gather(tokens, 1, keep[..., None].expand(-1, -1, tokens.shape[-1]))
        packing = Packing.of(keep_valid)  # None when nothing is padded
        mask = None if packing is None else keep_valid[:, None, None, :]
        if packing is not None:
            tokens = packing.pack(tokens)
        hidden = []
        for depth, block in enumerate(self.blocks, start=1):
            tokens = block(tokens, mask, rope, packing)
            if depth in layers:
                hidden.append(tokens)
        out = [self.norm(tokens), *hidden]
        if packing is not None:
            out = [packing.unpack(t) for t in out]
        return out if layers else out[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.encode(self.tokenize(x), grid=self.input_grid(x))

