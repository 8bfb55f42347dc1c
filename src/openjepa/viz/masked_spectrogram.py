"""A spectrogram with the patches a masker hides: what the context encoder sees and what the predictor must guess."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch


def save_masked_spectrograms(images: torch.Tensor, masks: list[tuple[np.ndarray, np.ndarray]], patch: int,
                             path: Path, *, seconds: float | None = None, titles: list[str] | None = None) -> Path:
    """One column per spectrogram image ``(n, 1, n_mels, frames)`` (uint8): on top the spectrogram, below it the
    same with context patches as they are, target patches tinted red and the rest greyed. ``masks``: per image
    ``(context token ids, target token ids)`` in raster order over the ``patch x patch`` grid."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n, _, mels, frames = images.shape
    gw = frames // patch
    fig, axes = plt.subplots(2, n, figsize=(2.6 * n, 4.6), squeeze=False)
    extent = (0, seconds if seconds else frames, 0, mels)
    for col, (image, (context, targets)) in enumerate(zip(images[:, 0].numpy() / 255.0, masks)):
        rgb = np.repeat(image[..., None], 3, -1) * 0.35 + 0.15  # greyed: neither seen nor predicted
        for ids, tint in ((context, None), (targets, np.array([1.0, 0.15, 0.1]))):
            for token in np.asarray(ids).tolist():
                r, c = divmod(int(token), gw)
                rows, cols = slice(r * patch, (r + 1) * patch), slice(c * patch, (c + 1) * patch)
                cell = image[rows, cols, None]
                rgb[rows, cols] = np.repeat(cell, 3, -1) if tint is None else 0.45 * cell + 0.55 * tint
        axes[0, col].imshow(image, origin="lower", aspect="auto", cmap="magma", extent=extent)
        axes[1, col].imshow(rgb, origin="lower", aspect="auto", extent=extent)
        axes[0, col].set_title(titles[col] if titles else f"clip {col}", fontsize=9)
        axes[1, col].set_title(f"context {len(context)}, target {len(targets)}", fontsize=8)
        for ax in axes[:, col]:
            ax.set_xlabel("s" if seconds else "frame", fontsize=8)
            ax.tick_params(labelsize=7)
    axes[0, 0].set_ylabel("mel band", fontsize=8)
    axes[1, 0].set_ylabel("masked (red: targets)", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
