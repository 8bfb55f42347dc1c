"""Model-predictive control toward a goal image with a trained world model.

At every model step: encode the current frame, plan ``horizon`` action chunks that bring the
predicted latents near the goal frame's latent, execute the first ``execute`` chunks (each
``frameskip`` environment actions), and plan again from what the environment shows
(receding horizon). The cost of a plan is the latent distance to the goal summed over the
horizon (``cost="sum"``) or at its end only (``"terminal"``); the distance (``energy``) is the mean
squared (``l2``, LeWorldModel) or absolute (``l1``, V-JEPA 2-AC) difference over all of a latent's
values, whatever its shape (one vector per frame, or patch tokens).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch

from openjepa.control.planners import make_planner
from openjepa.core.errors import ConfigError
from openjepa.core.protocols import WorldModel


@dataclass
class PlanConfig:
    """How ``openjepa plan`` plans: the planner and its settings (``planner_args``, e.g. CEM's samples,
    elites, iterations), the horizon in model steps, chunks executed per plan, the cost and its energy
    (distance to the goal latent), and the episode length in environment steps."""

    planner: str = "cem"
    planner_args: dict[str, float] = field(default_factory=lambda: {"samples": 300, "elites": 30, "iterations": 30})
    horizon: int = 5
    execute: int = 1
    cost: Literal["sum", "terminal"] = "sum"
    energy: Literal["l2", "l1"] = "l2"
    max_steps: int = 200
    env: str = "tworoom"

    def validate(self) -> None:
        make_planner(self.planner, **self.planner_args)  # an unknown planner or setting: a ConfigError
        if not 1 <= self.execute <= self.horizon:
            raise ConfigError(f"plan.execute must lie in [1, plan.horizon={self.horizon}], got {self.execute}")


def frames_tensor(pixels: np.ndarray) -> torch.Tensor:
    """uint8 frames ``(..., H, W, C)`` -> float ``(..., C, H, W)`` in [0, 1]."""
    x = torch.from_numpy(np.ascontiguousarray(pixels)).float().div_(255)
    return x.movedim(-1, -3)


class LatentGoalCost:
    """Cost of action chunks ``(B, S, H, A)`` for B problems: distance (``energy``) of the rolled-out latents to
    each problem's goal latent. ``set(history, past_actions, goal, states)`` fixes the start of every problem."""

    def __init__(self, model: WorldModel, kind: Literal["sum", "terminal"], energy: Literal["l2", "l1"] = "l2"):
        if energy not in ("l2", "l1"):
            raise ValueError(f"energy must be l2 or l1, got {energy!r}")
        self.model, self.kind, self.energy = model, kind, energy
        self.reads_state = model.reads_state

    def set(self, history: torch.Tensor, past_actions: torch.Tensor, goal: torch.Tensor,
            states: torch.Tensor | None = None) -> None:
        """Latents ``history (B, h, *Z)``, ``past_actions (B, h - 1, A)``, ``goal (B, *Z)``, and the history frames'
        ``states (B, h, S)``, which only a model that reads them (``model.reads_state``) needs."""
        if self.reads_state and states is None:
            raise ValueError("this world model reads the state of its history frames: pass states")
        self.history, self.past, self.goal = history, past_actions, goal
        self.states = states if self.reads_state else None

    def rollout(self, actions: torch.Tensor, candidates: int = 1) -> torch.Tensor:
        """Latents ``(B C, H, *Z)`` after planned chunks ``(B C, H, A)``: C candidates per problem, problem by problem."""
        rep = lambda x: x.repeat_interleave(candidates, 0)  # noqa: E731
        extra = {} if self.states is None else {"states": rep(self.states)}
        return self.model.rollout(rep(self.history), torch.cat([rep(self.past), actions], 1), **extra)

    def __call__(self, actions: torch.Tensor) -> torch.Tensor:
        B, S, H, A = actions.shape
        z = self.rollout(actions.reshape(B * S, H, A), S)  # (B S, H, *Z)
        diff = z - self.goal.repeat_interleave(S, 0)[:, None]
        dist = (diff.square() if self.energy == "l2" else diff.abs()).flatten(2).mean(-1).reshape(B, S, H)
        return dist.sum(-1) if self.kind == "sum" else dist[..., -1]


@dataclass
class Episode:
    """One MPC episode: whether it reached the goal, its env steps, what it saw, and per plan call the time taken,
    the rolled-out latents of the chosen plan ``(H, Dz)`` and the observed latent ``(Dz,)`` (latents of any
    shape flattened to ``Dz`` values)."""

    success: bool
    steps: int
    states: np.ndarray  # (L + 1, S)
    frames: np.ndarray  # (L + 1, H, W, C)
    goal_frame: np.ndarray  # (H, W, C)
    plan_seconds: list[float]
    predicted: list[np.ndarray]
    latents: list[np.ndarray]


@torch.no_grad()
def run_mpc_episode(model: WorldModel, env, seed: int, config: PlanConfig, frameskip: int,
                    reset_options: dict | None = None) -> Episode:
    """One episode of model-predictive control on a gymnasium env whose observations hold ``pixels`` and
    ``state`` and whose reset info holds ``goal_pixels`` and ``goal``."""
    planner = make_planner(config.planner, **config.planner_args)
    gen = torch.Generator().manual_seed(seed)
    obs, info = env.reset(seed=seed, options=reset_options)
    goal_frame = info["goal_pixels"]
    goal = model.embed(frames_tensor(goal_frame)[None])
    env_dim = env.action_space.shape[0]
    cost = LatentGoalCost(model, config.cost, config.energy)
    h = model.history
    # the last h observations: latents (1, *Z), states (1, S); chunks (A,) executed between them
    history, observed_states, past = [model.embed(frames_tensor(obs["pixels"])[None])], [_state(obs)], []
    frames, states, seconds, predicted, latents = [obs["pixels"]], [obs["state"]], [], [], []
    plan, steps, done = None, 0, bool(info["success"])
    while not done and steps < config.max_steps:
        started = time.perf_counter()
        cost.set(torch.stack(history, 1), _past_actions(past, len(history), frameskip * env_dim), goal,
                 torch.stack(observed_states, 1))
        plan = planner.plan(cost, 1, config.horizon, frameskip * env_dim, init=plan, generator=gen).actions
        seconds.append(time.perf_counter() - started)
        latents.append(history[-1][0].flatten().numpy())
        predicted.append(cost.rollout(plan)[0].flatten(1).numpy())
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
            observed_states = (observed_states + [_state(obs)])[-h:]
            past = (past + [chunk])[-(h - 1):] if h > 1 else []
        plan = torch.cat([plan[:, config.execute :], torch.zeros_like(plan[:, : config.execute])], 1)
    return Episode(bool(info["success"]), steps, np.stack(states), np.stack(frames), goal_frame, seconds, predicted,
                   latents)


def _state(obs: dict) -> torch.Tensor:
    """The observation's state as ``(1, S)`` float32."""
    return torch.as_tensor(obs["state"], dtype=torch.float32)[None]


def _past_actions(past: list[torch.Tensor], history: int, action_dim: int) -> torch.Tensor:
    """``(1, history - 1, A)``: the chunks executed between the history latents (zeros before the first)."""
    need = history - 1
    chunks = past[-need:] if need else []
    pad = [torch.zeros(action_dim)] * (need - len(chunks))
    return torch.stack(pad + chunks)[None] if need else torch.zeros(1, 0, action_dim)
