"""Energy landscapes: F(x, y) over a 2-D slice of y for a few x, with the true y and other y's marked; under each
landscape, what x shows."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass
class LandscapePanel:
    """One x: ``energy (n, n)`` over the slice (rows: the second direction, columns: the first, both from
    ``low`` to ``high``); ``marks``: label -> (points ``(k, 2)`` in slice coordinates, matplotlib colour and
    marker); ``picture``: uint8 ``(H, W, 3)`` of what x shows, or None."""

    energy: np.ndarray
    low: float
    high: float
    marks: dict[str, tuple[np.ndarray, str, str]] = field(default_factory=dict)
    picture: np.ndarray | None = None


def save_landscapes(panels: list[LandscapePanel], path: Path, title: str, axes_names: tuple[str, str]) -> Path:
    """A PNG of the panels side by side (a colour scale per panel; lighter: higher energy), the slice's axes named
    ``axes_names``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pictures = any(p.picture is not None for p in panels)
    rows = 2 if pictures else 1
    fig, axes = plt.subplots(rows, len(panels), figsize=(3.3 * len(panels), 4.4 if pictures else 3.4),
                             squeeze=False, gridspec_kw={"height_ratios": [3, 1] if pictures else [1]})
    for i, panel in enumerate(panels):
        ax = axes[0, i]
        extent = (panel.low, panel.high, panel.low, panel.high)
        shown = ax.imshow(panel.energy, origin="lower", extent=extent, cmap="viridis")
        ax.contour(panel.energy, levels=8, origin="lower", extent=extent, colors="white", linewidths=0.5)
        for label, (points, colour, marker) in panel.marks.items():
            inside = ((points >= panel.low) & (points <= panel.high)).all(1)
            ax.scatter(points[inside, 0], points[inside, 1], c=colour, marker=marker, s=70, edgecolors="black",
                       linewidths=0.7, label=label if i == 0 else None, zorder=3)
        ax.set_xlabel(axes_names[0], fontsize=8)
        ax.set_ylabel(axes_names[1] if i == 0 else "", fontsize=8)
        fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.03)
        if pictures:
            axes[1, i].axis("off")
            if panel.picture is not None:
                axes[1, i].imshow(panel.picture, interpolation="nearest")
    if any(p.marks for p in panels):
        fig.legend(loc="lower center", ncol=4, fontsize=8, frameon=False)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0.05, 1, 0.95))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
