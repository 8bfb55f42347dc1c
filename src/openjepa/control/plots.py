"""Pictures of control: a few episodes of a policy (frames along the way, the goal), of planning (the same, with
observed versus predicted latent paths) and the energy landscape of the plan cost over a 2-D slice of action
space."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from openjepa.control.envs.episodes import EpisodeRecord
from openjepa.control.mpc import Episode, LatentGoalCost, PlanConfig, frames_tensor
from openjepa.core.protocols import WorldModel


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _frame_strip(axes, frames: np.ndarray, goal_frame: np.ndarray, success: bool) -> None:
    """Frames ``(L + 1, H, W, C)`` at even times along an episode on all axes but the last, the goal on the last."""
    for ax, t in zip(axes[:-1], np.linspace(0, len(frames) - 1, len(axes) - 1).round().astype(int)):
        ax.imshow(frames[t])
        ax.set_title(f"step {t}", fontsize=8)
    axes[-1].imshow(goal_frame)
    axes[-1].set_title("goal " + ("reached" if success else "missed"), fontsize=8)
    for ax in axes:
        ax.axis("off")


def save_rollouts(episodes: list[EpisodeRecord], path: Path, title: str = "", frames_shown: int = 6) -> Path:
    """One row per recorded episode of a policy: frames along the way and the goal frame."""
    plt = _pyplot()
    fig, axes = plt.subplots(len(episodes), frames_shown + 1, figsize=(1.8 * (frames_shown + 1),
                                                                       1.9 * len(episodes)), squeeze=False)
    for row, ep in zip(axes, episodes):
        _frame_strip(row, ep.frames, ep.goal_frame, ep.success)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def save_plan_episodes(episodes: list[Episode], model: WorldModel, path: Path, frames_shown: int = 5) -> Path:
    """One row per episode: frames along the way, the goal, and the observed latent path beside the first
    plans' predicted rollouts, in the plane of the path's two principal components."""
    plt = _pyplot()
    fig, axes = plt.subplots(len(episodes), frames_shown + 2, figsize=(2 * (frames_shown + 2), 2.1 * len(episodes)),
                             squeeze=False)
    for row, ep in zip(axes, episodes):
        _frame_strip(row[: frames_shown + 1], ep.frames, ep.goal_frame, ep.success)
        with torch.no_grad():
            goal = model.embed(frames_tensor(ep.goal_frame)[None])[0].flatten().numpy()
        observed = np.stack(ep.latents + [goal])
        centre = observed.mean(0)
        basis = np.linalg.svd(observed - centre, full_matrices=False)[2][:2].T  # (Dz, 2)
        ax = row[-1]
        xy = (np.stack(ep.latents) - centre) @ basis
        ax.plot(xy[:, 0], xy[:, 1], "-o", ms=2, color="k", label="observed")
        for k in range(0, len(ep.predicted), max(1, len(ep.predicted) // 4)):
            pred = (np.vstack([ep.latents[k], ep.predicted[k]]) - centre) @ basis
            ax.plot(pred[:, 0], pred[:, 1], "--", color="tab:orange", lw=1, label="predicted" if k == 0 else None)
        g = (goal - centre) @ basis
        ax.plot(g[0], g[1], "*", ms=12, color="tab:green", label="goal")
        ax.set_title("latents (PCA)", fontsize=8)
        ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


@torch.no_grad()
def save_energy_landscape(model: WorldModel, env, seed: int, config: PlanConfig, frameskip: int, path: Path,
                          resolution: int = 41) -> Path:
    """The plan cost of holding one action ``(a0, a1, 0, ...)`` for the whole horizon, over a grid of ``[-1, 1]^2``,
    at the first observation of the episode ``seed``; the true direction to the goal is drawn on top."""
    plt = _pyplot()
    obs, info = env.reset(seed=seed, options={"different_rooms": True})
    dim = env.action_space.shape[0]
    grid = np.linspace(-1, 1, resolution)
    a0, a1 = np.meshgrid(grid, grid, indexing="xy")
    action = np.zeros((resolution * resolution, dim), np.float32)
    action[:, 0], action[:, 1] = a0.ravel(), a1.ravel()
    chunks = torch.from_numpy(np.tile(action, frameskip))[None, :, None].expand(-1, -1, config.horizon, -1)
    model.eval()
    cost = LatentGoalCost(model, config.cost, config.energy, config.latent, config.precision)
    z = model.embed(frames_tensor(obs["pixels"])[None])
    cost.set(z[:, None], torch.zeros(1, 0, chunks.shape[-1]), model.embed(frames_tensor(info["goal_pixels"])[None]),
             torch.as_tensor(obs["state"])[None, None])
    energy = cost(chunks)[0].reshape(resolution, resolution).numpy()
    fig, axes = plt.subplots(1, 3, figsize=(10, 3.4))
    axes[0].imshow(obs["pixels"])
    axes[0].set_title("observation")
    axes[1].imshow(info["goal_pixels"])
    axes[1].set_title("goal")
    im = axes[2].imshow(energy, origin="lower", extent=(-1, 1, -1, 1), cmap="viridis")
    to_goal = np.asarray(info["goal"]) - np.asarray(obs["state"])
    to_goal = to_goal / max(np.linalg.norm(to_goal), 1e-9)
    axes[2].arrow(0, 0, 0.8 * to_goal[0], 0.8 * to_goal[1], color="w", width=0.02)
    axes[2].set(xlabel="action[0]", ylabel="action[1]", title=f"plan cost ({config.cost}, horizon {config.horizon})")
    fig.colorbar(im, ax=axes[2])
    for a in axes[:2]:
        a.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
