"""PCA map of patch features: the first three principal components of the tokens as RGB."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image


def pca_rgb(tokens: torch.Tensor, grid: tuple[int, int]) -> np.ndarray:
    """Tokens ``(n, T, D)`` -> uint8 ``(n, gh, gw, 3)``: a PCA fitted over all n*T tokens."""
    n, T, D = tokens.shape
    flat = tokens.reshape(-1, D).double()
    flat = flat - flat.mean(0)
    _, _, v = torch.linalg.svd(flat, full_matrices=False)
    comps = flat @ v[:3].T  # (n*T, 3)
    lo, hi = torch.quantile(comps, 0.02, dim=0), torch.quantile(comps, 0.98, dim=0)
    comps = ((comps - lo) / (hi - lo).clamp_min(1e-8)).clamp(0, 1)
    return (comps.reshape(n, *grid, 3).numpy() * 255).astype(np.uint8)


def save_pca_figure(images: torch.Tensor, rows: dict[str, torch.Tensor], grid: tuple[int, int], path: Path,
                    scale: int = 4) -> Path:
    """A PNG: the input images on top, then one row of PCA maps per entry of ``rows`` (name -> tokens).

    ``images`` uint8 ``(n, C, H, W)``; each tokens tensor ``(n, T, D)``.
    """
    n, C, H, W = images.shape
    top = images.permute(0, 2, 3, 1).numpy()
    if C == 1:
        top = np.repeat(top, 3, axis=3)
    strips = [np.concatenate(list(top), axis=1)]
    for tokens in rows.values():
        maps = [np.asarray(Image.fromarray(m).resize((W, H), Image.NEAREST)) for m in pca_rgb(tokens, grid)]
        strips.append(np.concatenate(maps, axis=1))
    sheet = Image.fromarray(np.concatenate(strips, axis=0))
    sheet = sheet.resize((sheet.width * scale, sheet.height * scale), Image.NEAREST)
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)
    return path
