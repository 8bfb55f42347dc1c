"""Model-predictive control toward a goal image with a trained world model.

At every model step: encode the current frame, plan ``horizon`` action chunks that bring the
predicted latents near the goal frame's latent, execute the first ``execute`` chunks (each
``frameskip`` environment actions), and plan again from what the environment shows
(receding horizon). The cost of a plan is the latent distance to the goal summed over the
horizon (``cost="sum"``) or at its end only (``"terminal"``); the distance (``energy``) is the mean
squared (``l2``, LeWorldModel) or absolute (``l1``, V-JEPA 2-AC) difference over all of a latent's
values, whatever its shape (one vector per frame, or patch tokens).

A model whose predictor has a latent variable z (``model.latent``, :mod:`openjepa.nn.latent`: what the actions do not
decide, such as a push) is rolled out one step at a time through its ``transition_problem`` toward the goal. With
``latent="min"`` each step keeps the z whose prediction lies nearest the goal (every code of a discrete z; ISTA
steps toward the goal for a continuous one): the free energy min_z E inside the cost, optimistic about what the
agent does not control. ``"mean"`` averages each step's prediction over z's candidates (every code; z = 0 for a
continuous z) instead: risk-neutral.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
import torch

from openjepa.control.envs.episodes import run_episode
from openjepa.control.planners import make_planner
from openjepa.core.device import uses_bf16
from openjepa.core.errors import ConfigError
from openjepa.core.protocols import ScoresTransitions, WorldModel
from openjepa.objectives.energy import free_energy


@dataclass
class PlanConfig:
    """How ``openjepa plan`` plans: the planner and its settings (``planner_args``, e.g. CEM's samples,
    elites, iterations), the horizon in model steps, chunks executed per plan, the cost and its energy
    (distance to the goal latent), the episode length in environment steps, for a model with a latent
    variable how each rolled step treats z (``latent``: ``min`` or ``mean``, see the module docstring), and the
    precision of the rollouts (``bf16``: a bfloat16 copy of the model rolls out, the costs summed in fp32; ``auto``:
    bf16 where the CPU or GPU computes it natively, fp32 elsewhere)."""

    planner: str = "cem"
    planner_args: dict[str, float] = field(default_factory=lambda: {"samples": 300, "elites": 30, "iterations": 30})
    horizon: int = 5
    execute: int = 1
    cost: Literal["sum", "terminal"] = "sum"
    energy: Literal["l2", "l1"] = "l2"
    max_steps: int = 200
    env: str = "tworoom"
    latent: Literal["min", "mean"] = "min"
    precision: Literal["fp32", "bf16", "auto"] = "fp32"

    def validate(self) -> None:
        make_planner(self.planner, **self.planner_args)  # an unknown planner or setting: a ConfigError
        if self.latent not in ("min", "mean"):
            raise ConfigError(f"plan.latent must be min or mean, got {self.latent!r}")
        if not 1 <= self.execute <= self.horizon:
            raise ConfigError(f"plan.execute must lie in [1, plan.horizon={self.horizon}], got {self.execute}")
        if self.precision not in ("fp32", "bf16", "auto"):
            raise ConfigError(f"plan.precision must be fp32, bf16 or auto, got {self.precision!r}")


def frames_tensor(pixels: np.ndarray) -> torch.Tensor:
    """uint8 frames ``(..., H, W, C)`` -> float ``(..., C, H, W)`` in [0, 1]."""
    x = torch.from_numpy(np.ascontiguousarray(pixels)).float().div_(255)
    return x.movedim(-1, -3)


class LatentGoalCost:
    """Cost of action chunks ``(B, S, H, A)`` for B problems: distance (``energy``) of the rolled-out latents to
    each problem's goal latent. ``set(history, past_actions, goal, states)`` fixes the start of every problem.
    ``latent``: how a model with a latent variable rolls out (``min`` or ``mean``, see the module docstring);
    ``precision``: ``bf16`` rolls out through a bfloat16 copy of the model (about 1.6x faster on a CPU with AMX),
    ``auto`` does so where bf16 is native to the model's device."""

    def __init__(self, model: WorldModel, kind: Literal["sum", "terminal"], energy: Literal["l2", "l1"] = "l2",
                 latent: Literal["min", "mean"] = "min", precision: Literal["fp32", "bf16", "auto"] = "fp32"):
        if energy not in ("l2", "l1"):
            raise ValueError(f"energy must be l2 or l1, got {energy!r}")
        if latent not in ("min", "mean"):
            raise ValueError(f"latent must be min or mean, got {latent!r}")
        if precision not in ("fp32", "bf16", "auto"):
            raise ValueError(f"precision must be fp32, bf16 or auto, got {precision!r}")
        bf16 = uses_bf16(precision, next(model.parameters()).device)
        self.dtype = torch.bfloat16 if bf16 else torch.float32
        model = copy.deepcopy(model).to(self.dtype) if bf16 else model
        self.model, self.kind, self.energy, self.latent = model, kind, energy, latent
        self.reads_state = model.reads_state
        scored = isinstance(model, ScoresTransitions) and model.latent.active
        self.variable = model.latent if scored else None

    def set(self, history: torch.Tensor, past_actions: torch.Tensor, goal: torch.Tensor,
            states: torch.Tensor | None = None) -> None:
        """Latents ``history (B, h, *Z)``, ``past_actions (B, h - 1, A)``, ``goal (B, *Z)``, and the history frames'
        ``states (B, h, S)``, which only a model that reads them (``model.reads_state``) needs."""
        if self.reads_state and states is None:
            raise ValueError("this world model reads the state of its history frames: pass states")
        self.history, self.past, self.goal = (t.to(self.dtype) for t in (history, past_actions, goal))
        self.states = states.to(self.dtype) if self.reads_state else None

    def rollout(self, actions: torch.Tensor, candidates: int = 1) -> torch.Tensor:
        """Latents ``(B C, H, *Z)`` (fp32) after planned chunks ``(B C, H, A)``: C candidates per problem, problem by
        problem."""
        rep = lambda x: x.repeat_interleave(candidates, 0)  # noqa: E731
        actions = torch.cat([rep(self.past), actions.to(self.dtype)], 1)
        if self.variable is not None:
            return self._latent_rollout(rep(self.history), actions, rep(self.goal)).float()
        extra = {} if self.states is None else {"states": rep(self.states)}
        return self.model.rollout(rep(self.history), actions, **extra).float()

    def _latent_rollout(self, history: torch.Tensor, actions: torch.Tensor, goal: torch.Tensor) -> torch.Tensor:
        """Latents ``(N, H, *Z)`` rolled one step at a time from ``history (N, h, *Z)`` under ``actions
        (N, h - 1 + H, A)``, each step through the model's ``transition_problem`` toward ``goal (N, *Z)``."""
        h = history.shape[1]
        seq = list(history.unbind(1))
        for end in range(h, actions.shape[1] + 1):  # the newest latent is seq[end - 1], its action actions[:, end - 1]
            start = max(0, end - self.model.history)
            problem = self.model.transition_problem(torch.stack(seq[start:end], 1), actions[:, start:end], goal)
            if self.latent == "min":
                z = free_energy(self.variable, replace(problem, distance=self.energy)).z[:, None]
            else:
                z = self.variable.candidates(len(goal), goal.device)
            seq.append(problem.predict(z).mean(1)[:, 0])
        return torch.stack(seq[h:], 1)

    def __call__(self, actions: torch.Tensor) -> torch.Tensor:
        B, S, H, A = actions.shape
        z = self.rollout(actions.reshape(B * S, H, A), S)  # (B S, H, *Z)
        diff = z - self.goal.float().repeat_interleave(S, 0)[:, None]
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


class MPCPolicy:
    """Model-predictive control as a policy of the control stack (``reset(env, rng)``, ``act(env, observation)``):
    plans toward the latent of the observation's ``goal_pixels`` from the last ``model.history`` observed latents,
    executes ``config.execute`` chunks of ``frameskip`` env actions, then plans again from what the env shows. It
    keeps, per plan call, the time taken, the chosen plan's rolled-out latents and the observed latent. ``seed``
    seeds the planner's draws."""

    def __init__(self, model: WorldModel, config: PlanConfig, frameskip: int, seed: int = 0):
        self.model, self.config, self.frameskip, self.seed = model, config, frameskip, seed
        self.planner = make_planner(config.planner, **config.planner_args)
        self.cost = LatentGoalCost(model, config.cost, config.energy, config.latent, config.precision)

    def reset(self, env, rng: np.random.Generator) -> None:
        self.env_dim = env.action_space.shape[0]
        self.generator = torch.Generator().manual_seed(self.seed)  # the planner's draws: repeatable per episode
        self.goal = None  # the goal latent, set from the first observation
        self.plan = None  # the warm start: the last plan shifted by the chunks executed
        self.chunks: list[torch.Tensor] = []  # planned chunks (k A,) still to execute
        self.actions: list[np.ndarray] = []  # env actions (A,) of the chunk being executed
        self.chunk = None  # the chunk being executed
        self.plan_seconds, self.predicted, self.latents = [], [], []

    @torch.no_grad()
    def act(self, env, observation: dict[str, np.ndarray]) -> np.ndarray:
        model, h = self.model, self.model.history
        if self.goal is None:
            self.goal = model.embed(frames_tensor(observation["goal_pixels"])[None])
            self.history, self.states, self.past = [], [], []
        if not self.actions:  # a chunk just ended (or the episode began): the observation joins the history
            self.history = (self.history + [model.embed(frames_tensor(observation["pixels"])[None])])[-h:]
            self.states = (self.states + [_state(observation)])[-h:]
            if self.chunk is not None:
                self.past = (self.past + [self.chunk])[-(h - 1):] if h > 1 else []
            if not self.chunks:
                self._replan()
            self.chunk = self.chunks.pop(0)
            self.actions = list(self.chunk.reshape(self.frameskip, self.env_dim).numpy())
        return self.actions.pop(0)

    def _replan(self) -> None:
        config, width = self.config, self.frameskip * self.env_dim
        started = time.perf_counter()
        self.cost.set(torch.stack(self.history, 1), _past_actions(self.past, len(self.history), width), self.goal,
                      torch.stack(self.states, 1))
        plan = self.planner.plan(self.cost, 1, config.horizon, width, init=self.plan, generator=self.generator).actions
        self.plan_seconds.append(time.perf_counter() - started)
        self.latents.append(self.history[-1][0].flatten().numpy())
        self.predicted.append(self.cost.rollout(plan)[0].flatten(1).numpy())
        self.chunks = list(plan[0, : config.execute])
        self.plan = torch.cat([plan[:, config.execute :], torch.zeros_like(plan[:, : config.execute])], 1)


def run_mpc_episode(model: WorldModel, env, seed: int, config: PlanConfig, frameskip: int,
                    reset_options: dict | None = None) -> Episode:
    """One episode of model-predictive control (:class:`MPCPolicy`) through the control stack's episode loop, on
    a gymnasium env whose observations hold ``pixels`` and ``state`` and whose infos hold ``goal_pixels``."""
    policy = MPCPolicy(model, config, frameskip, seed)
    record = run_episode(env, policy, seed, reset_options, max_steps=config.max_steps, record=True)
    return Episode(record.success, record.steps, record.states, record.frames, record.goal_frame,
                   policy.plan_seconds, policy.predicted, policy.latents)


def _state(obs: dict) -> torch.Tensor:
    """The observation's state as ``(1, S)`` float32."""
    return torch.as_tensor(obs["state"], dtype=torch.float32)[None]


def _past_actions(past: list[torch.Tensor], history: int, action_dim: int) -> torch.Tensor:
    """``(1, history - 1, A)``: the chunks executed between the history latents (zeros before the first)."""
    need = history - 1
    chunks = past[-need:] if need else []
    pad = [torch.zeros(action_dim)] * (need - len(chunks))
    return torch.stack(pad + chunks)[None] if need else torch.zeros(1, 0, action_dim)
