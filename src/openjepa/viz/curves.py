"""Training curves from the records of ``metrics.jsonl``: loss (and its parts) and collapse monitors, as PNG."""

from __future__ import annotations

from pathlib import Path

LOSS_KEYS = ("loss", "pred_loss", "rollout_loss", "future_loss", "invariance", "sigreg")
COLLAPSE_KEYS = (("token_std", "token std over the batch"), ("latent_std", "latent std over the batch"),
                 ("rankme", "RankMe (effective rank)"))


def plot_training_curves(records: list[dict], out_dir: Path) -> list[Path]:
    """Write ``loss.png`` and ``collapse.png`` from per-step records; returns the written paths (none without
    records)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not records:
        return []
    out_dir.mkdir(parents=True, exist_ok=True)
    steps = [r["step"] for r in records]
    written = []

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for key in LOSS_KEYS:
        if key in records[0]:
            ax.plot(steps, [r[key] for r in records], label=key, lw=1)
    ax.set(xlabel="step", ylabel="loss", yscale="log", title="training loss")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out_dir / "loss.png", dpi=120)
    plt.close(fig)
    written.append(out_dir / "loss.png")

    present = [(k, label) for k, label in COLLAPSE_KEYS if k in records[0]]
    if present:
        fig, axes = plt.subplots(1, len(present), figsize=(5 * len(present), 3.5))
        for ax, (key, label) in zip(axes if len(present) > 1 else [axes], present):
            ax.plot(steps, [r[key] for r in records], lw=1)
            ax.set(xlabel="step", title=label)
        fig.tight_layout()
        fig.savefig(out_dir / "collapse.png", dpi=120)
        plt.close(fig)
        written.append(out_dir / "collapse.png")
    return written
