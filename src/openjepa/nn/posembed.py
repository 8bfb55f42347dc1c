"""Fixed sine-cosine position embeddings for 1-D, 2-D and 3-D token grids."""

from __future__ import annotations

import torch


def sincos_1d(positions: torch.Tensor, dim: int) -> torch.Tensor:
    """Embed positions ``(N,)`` as ``(N, dim)``: sines in the first half, cosines in the second.

    Frequencies are ``1 / 10000^(2i/dim)``, as in the Transformer paper.
    """
    if dim % 2:
        raise ValueError(f"sincos_1d needs an even dim, got {dim}")
    omega = 1.0 / 10000 ** (torch.arange(dim // 2, dtype=torch.float64) / (dim / 2))
    angles = positions.to(torch.float64)[:, None] * omega[None, :]
    return torch.cat([angles.sin(), angles.cos()], dim=1).float()


def sincos_grid(grid: tuple[int, ...], dim: int) -> torch.Tensor:
    """Embed every cell of a grid ``(g0, g1, ...)`` in raster order as ``(prod(grid), dim)``.

    Each axis gets an equal, even share of ``dim`` (2-D: half for rows, half for
    columns); any remainder goes to the first axis.
    """
    axes = len(grid)
    share = (dim // axes) // 2 * 2
    shares = [dim - share * (axes - 1)] + [share] * (axes - 1)
    if any(s <= 0 or s % 2 for s in shares):
        raise ValueError(f"dim {dim} cannot be split evenly over a {axes}-D grid")
    coords = torch.meshgrid(*[torch.arange(g) for g in grid], indexing="ij")
    parts = [sincos_1d(c.reshape(-1), s) for c, s in zip(coords, shares)]
    return torch.cat(parts, dim=1)
