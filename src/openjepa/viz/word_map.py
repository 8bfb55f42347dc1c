"""A map of word embeddings: the first two principal components of a text JEPA's word table, each word written at
its point, the words of each category in one colour (others grey)."""

from __future__ import annotations

from pathlib import Path

import torch


def save_word_map(table: torch.Tensor, words: list[str], category: torch.Tensor, classes: list[str],
                  path: Path) -> Path:
    """``table (V, D)`` embeddings of ``words``; ``category (V,)`` an index of ``classes`` or -1 -> a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    flat = table.double() - table.double().mean(0)
    _, _, v = torch.linalg.svd(flat, full_matrices=False)
    points = (flat @ v[:2].T).numpy()
    colours = plt.get_cmap("tab10")
    fig, ax = plt.subplots(figsize=(8, 7))
    for (x, y), word, c in zip(points, words, category.tolist()):
        colour = colours(c % 10) if c >= 0 else "0.6"
        ax.scatter(x, y, s=8, color=colour)
        ax.annotate(word, (x, y), fontsize=7, color=colour, xytext=(2, 2), textcoords="offset points")
    for c, name in enumerate(classes):
        ax.scatter([], [], color=colours(c % 10), label=name)
    ax.legend(fontsize=7, loc="best", title="object category", title_fontsize=7)
    ax.set(title="word embeddings (target encoder), first two principal components", xticks=[], yticks=[])
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
