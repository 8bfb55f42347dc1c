"""Model-predictive control toward a goal image with a trained world model.

At every model step: encode the current frame, plan ``horizon`` action chunks that bring the
predicted latents near the goal frame's latent, execute the first ``execute`` chunks (each
``frameskip`` environment actions), and plan again from what the environment shows
(receding horizon). The cost of a plan is the latent distance to the goal summed over the
horizon (``cost="sum"``) or at its end only (``"terminal"``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch

from openjepa.world.model import LeWorldModel
from openjepa.world.planners import make_planner


@dataclass
class PlanConfig:
    """How ``openjepa plan`` plans: the planner and its settings (``planner_args``, e.g. CEM's samples,
    elites, iterations), the horizon in model steps, chunks executed per plan, the cost, and the episode
    length in environment steps."""

    planner: Literal["cem", "mppi", "grad"] = "cem"
    planner_args: dict[str, float] = field(default_factory=lambda: {"samples": 300, "elites": 30, "iterations": 30})
    horizon: int = 5
    execute: int = 1
    cost: Literal["sum", "terminal"] = "sum"
    max_steps: int = 200
    env: str = "tworoom"

    def validate(self) -> None:
        if not 1 <= self.execute <= self.horizon:
            raise ValueError(f"plan.execute must lie in [1, plan.horizon={self.horizon}], got {self.execute}")


def frames_tensor(pixels: np.ndarray) -> torch.Tensor:
    """uint8 frames ``(..., H, W, C)`` -> float ``(..., C, H, W)`` in [0, 1]."""
    x = torch.from_numpy(np.ascontiguousarray(pixels)).float().div_(255)
    return x.movedim(-1, -3)


class LatentGoalCost:
    """Cost of action chunks ``(B, S, H, A)`` for B problems: distance of the rolled-out latents to each
    problem's goal latent. ``set(history, past_actions, goal)`` fixes the start of every problem."""

    def __init__(self, model: LeWorldModel, kind: Literal["sum", "terminal"]):
        self.model, self.kind = model, kind

    def set(self, history: torch.Tensor, past_actions: torch.Tensor, goal: torch.Tensor) -> None:
        """``history (B, h, Dz)``, ``past_actions (B, h - 1, A)``, ``goal (B, Dz)``."""
        self.history, self.past, self.goal = history, past_actions, goal

    def __call__(self, actions: torch.Tensor) -> torch.Tensor:
        B, S, H, A = actions.shape
        rep = lambda x: x.repeat_interleave(S, 0)  # noqa: E731
        acts = torch.cat([rep(self.past), actions.reshape(B * S, H, A)], 1)
        z = self.model.rollout(rep(self.history), acts)  # (B S, H, Dz)
        dist = (z - rep(self.goal)[:, None]).square().mean(-1).reshape(B, S, H)
        return dist.sum(-1) if self.kind == "sum" else dist[..., -1]


@dataclass
class Episode:
    """One MPC episode: whether it reached the goal, its env steps, what it saw, and per plan call the time taken,
    the rolled-out latents of the chosen plan ``(H, Dz)`` and the observed latent ``(Dz,)``."""

    success: bool
    steps: int
    states: np.ndarray  # (L + 1, S)
    frames: np.ndarray  # (L + 1, H, W, C)
    goal_frame: np.ndarray  # (H, W, C)
    plan_seconds: list[float]
    predicted: list[np.ndarray]
    latents: list[np.ndarray]


@torch.no_grad()
def run_mpc_episode(model: LeWorldModel, env, seed: int, config: PlanConfig, frameskip: int,
                    reset_options: dict | None = None) -> Episode:
    """One episode of model-predictive control on a gymnasium env whose observations hold ``pixels`` and
    ``state`` and whose reset info holds ``goal_pixels`` and ``goal``."""
    planner = make_planner(config.planner, **config.planner_args)
    gen = torch.Generator().manual_seed(seed)
    obs, info = env.reset(seed=seed, options=reset_options)
    goal_frame = info["goal_pixels"]
    goal = model.embed(frames_tensor(goal_frame)[None])
    env_dim = env.action_space.shape[0]
    cost = LatentGoalCost(model, config.cost)
    h = model.history
    history, past = [model.embed(frames_tensor(obs["pixels"])[None])], []  # latents (1, Dz), chunks (A,)
    frames, states, seconds, predicted, latents = [obs["pixels"]], [obs["state"]], [], [], []
    plan, steps, done = None, 0, bool(info["success"])
    while not done and steps < config.max_steps:
        started = time.perf_counter()
        cost.set(torch.stack(history, 1), _past_actions(past, len(history), frameskip * env_dim), goal)
        plan = planner.plan(cost, 1, config.horizon, frameskip * env_dim, init=plan, generator=gen).actions
        seconds.append(time.perf_counter() - started)
        latents.append(history[-1][0].numpy())
        predicted.append(model.rollout(cost.history, torch.cat([cost.past, plan], 1))[0].numpy())
        for chunk in plan[0, : config.execute]:
            for action in chunk.reshape(frameskip, env_dim).numpy():
                obs, _, terminated, truncated, info = env.step(action)
                frames.append(obs["pixels"])
                states.append(obs["state"])
                steps += 1
                done = terminated or truncated or steps >= config.max_steps
                if done:
                    break
            if done:
                break
            history = (history + [model.embed(frames_tensor(obs["pixels"])[None])])[-h:]
            past = (past + [chunk])[-(h - 1):] if h > 1 else []
        plan = torch.cat([plan[:, config.execute :], torch.zeros_like(plan[:, : config.execute])], 1)
    return Episode(bool(info["success"]), steps, np.stack(states), np.stack(frames), goal_frame, seconds, predicted,
                   latents)


def _past_actions(past: list[torch.Tensor], history: int, action_dim: int) -> torch.Tensor:
    """``(1, history - 1, A)``: the chunks executed between the history latents (zeros before the first)."""
    need = history - 1
    chunks = past[-need:] if need else []
    pad = [torch.zeros(action_dim)] * (need - len(chunks))
    return torch.stack(pad + chunks)[None] if need else torch.zeros(1, 0, action_dim)
