"""3-D scatter of point clouds with the groups a point-cloud JEPA sees (context) and predicts (targets)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch


def save_point_masks(clouds: torch.Tensor, centres: torch.Tensor, neighbours: torch.Tensor,
                     masks: list[tuple[np.ndarray, np.ndarray]], path: Path, *,
                     titles: list[str] | None = None) -> Path:
    """One panel per cloud ``(n, P, 3)``: every point in light grey, the points of context groups in blue and of
    target groups in red (``neighbours (n, G, k, 3)`` relative to ``centres (n, G, 3)``); ``masks``: per cloud
    ``(context group ids, target group ids)``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(clouds)
    fig = plt.figure(figsize=(3.2 * n, 3.4))
    for i in range(n):
        ax = fig.add_subplot(1, n, i + 1, projection="3d")
        cloud = clouds[i].float().numpy()
        ax.scatter(*cloud.T, s=1, c="0.8", depthshade=False)
        context, targets = masks[i]
        for ids, colour, label in ((context, "tab:blue", "context"), (targets, "tab:red", "target")):
            ids = torch.as_tensor(ids, dtype=torch.long)
            pts = (neighbours[i, ids] + centres[i, ids, None]).reshape(-1, 3).float().numpy()
            ax.scatter(*pts.T, s=2, c=colour, depthshade=False, label=f"{label} ({len(ids)} groups)")
        ax.set_title(titles[i] if titles else f"cloud {i}", fontsize=9)
        ax.set_axis_off()
        ax.legend(loc="lower center", fontsize=7, markerscale=4, frameon=False)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
