"""Rotary position embeddings (RoPE) over 1-, 2- or 3-D token grids, as V-JEPA 2 uses them.

The head dimension is cut into one chunk per grid axis (V-JEPA 2: ``2 * (d // 3 // 2)``
channels each for t, h, w; any rest is left unrotated). Within an axis chunk of size
``c``, channel pair ``(2i, 2i+1)`` turns by ``position * base^(-2i / c)``.

``reference_quirk=True`` reproduces the published V-JEPA 2 code (kept by HF
transformers): its sine/cosine tables are tiled (``repeat``) instead of
interleaved, so channel ``j`` of a chunk turns by the frequency of index
``j mod c/2``; the two channels of a pair then turn by different angles and the
map is no longer a rotation. Published checkpoints were trained with it, so
loading them with parity needs it; new models should leave it off.
"""

from __future__ import annotations

import torch


def axis_chunk(head_dim: int, axes: int) -> int:
    """Channels per axis: the largest even number with ``axes * chunk <= head_dim``."""
    chunk = 2 * (head_dim // axes // 2)
    if chunk == 0:
        raise ValueError(f"head dim {head_dim} is too small for RoPE over {axes} axes")
    return chunk


def rope_tables(coords: torch.Tensor, head_dim: int, base: float = 10000.0,
                reference_quirk: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """``coords (..., N, A)`` token positions on an A-axis grid -> ``(cos, sin)``, each ``(..., N, head_dim)``.

    Channels past ``A * chunk`` get angle 0 (cos 1, sin 0), i.e. stay as they are.
    """
    axes = coords.shape[-1]
    chunk = axis_chunk(head_dim, axes)
    freqs = base ** (-torch.arange(chunk // 2, dtype=torch.float64, device=coords.device) * 2 / chunk)  # (chunk/2,)
    if reference_quirk:
        per_channel = freqs.repeat(2)
    else:
        per_channel = freqs.repeat_interleave(2)
    angles = coords.to(torch.float64)[..., :, None] * per_channel  # (..., N, A, chunk)
    angles = angles.flatten(-2)  # (..., N, A * chunk)
    rest = head_dim - axes * chunk
    if rest:
        angles = torch.cat([angles, angles.new_zeros(*angles.shape[:-1], rest)], dim=-1)
    return angles.cos().float(), angles.sin().float()


def rotate_pairs(x: torch.Tensor) -> torch.Tensor:
    """``(x0, x1, x2, x3, ...) -> (-x1, x0, -x3, x2, ...)`` on the last dimension."""
    pairs = x.unflatten(-1, (-1, 2))
    return torch.stack([-pairs[..., 1], pairs[..., 0]], dim=-1).flatten(-2)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate ``x (B, H, N, d)`` by tables ``(B or 1, 1, N, d)`` from :func:`rope_tables`."""
    return x * cos.to(x.dtype) + rotate_pairs(x) * sin.to(x.dtype)


def grid_coords(grid: tuple[int, ...]) -> torch.Tensor:
    """Integer coordinates ``(prod(grid), len(grid))`` of every grid cell in raster order."""
    mesh = torch.meshgrid(*[torch.arange(g) for g in grid], indexing="ij")
    return torch.stack([m.reshape(-1) for m in mesh], dim=-1)


def rope_for(grid: tuple[int, ...], keep: torch.Tensor | None, head_dim: int, base: float = 10000.0,
             reference_quirk: bool = False, device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """Rotary ``(cos, sin)`` tables ``(1 or B, 1, L, head_dim)`` (broadcast over heads) for the tokens at
    ``keep (B, L)`` of ``grid``, or for all its tokens if ``keep`` is None."""
    coords = grid_coords(grid).to(device)  # (N, A)
    coords = coords[None] if keep is None else coords[keep]  # (1 or B, L, A)
    cos, sin = rope_tables(coords, head_dim, base, reference_quirk)
    return cos[:, None], sin[:, None]
