"""Images with the captions a model retrieves for them: each image over its true caption and the nearest ones."""

from __future__ import annotations

import textwrap
from pathlib import Path

import torch


def save_caption_grid(images: torch.Tensor, truth: list[tuple[str, ...]], guesses: list[list[tuple[str, float]]],
                      path: Path) -> Path:
    """``images (N, C, H, W)`` uint8, their true captions (one or more each) and ``guesses[i]``: (caption,
    cosine) nearest first -> a PNG; a guess among the true captions is green, others red."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(images)
    cols = min(n, 4)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 4.4 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, image, true, top in zip(axes.flat, images, truth, guesses):
        pixels = image.permute(1, 2, 0).numpy()
        ax.imshow(pixels[..., 0] if pixels.shape[2] == 1 else pixels, cmap="gray", interpolation="nearest")
        ax.set_title("\n".join(textwrap.wrap(true[0], 34)), fontsize=7)
        lines = [(f"{score:.2f} " + textwrap.shorten(text, 52), "green" if text in true else "firebrick")
                 for text, score in top]
        for row, (line, colour) in enumerate(lines):
            ax.text(0, -0.03 - 0.07 * row, line, transform=ax.transAxes, fontsize=6, color=colour, va="top")
    fig.suptitle("test images: true caption above, nearest captions below (cosine)", fontsize=9)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.subplots_adjust(left=0.02, right=0.98, top=0.9, bottom=0.08, hspace=0.55, wspace=0.1)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
