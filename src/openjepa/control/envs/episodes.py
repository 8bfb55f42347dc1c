"""The control stack's one episode loop: any policy (scripted, a learned policy, model-predictive control) acts in an
env until the episode ends; collection, baselines, ``openjepa plan`` and ``openjepa rollout`` all run it.

A policy sees what a goal-conditioned agent may see: the env's observation (``pixels``, ``state``) and, from its
info, the current ``goal`` and ``goal_pixels`` (:func:`observation`); scripted policies may read the env itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from openjepa.control.envs.policies import Policy

GOAL_KEYS = ("goal", "goal_pixels")


def observation(obs: dict[str, np.ndarray], info: dict[str, Any]) -> dict[str, np.ndarray]:
    """What a policy acts on: the env's observation plus the goal it is after (the info's ``goal``,
    ``goal_pixels``)."""
    return {**obs, **{key: info[key] for key in GOAL_KEYS if key in info}}


@dataclass
class EpisodeRecord:
    """One episode: whether it ended at a goal, its env steps, goals reached (several with retargeting) and, when
    recorded, what it saw and did: frames ``(L + 1, H, W, C)``, states ``(L + 1, S)``, actions ``(L, A)`` and the
    goal of each row ``(L + 1, G)`` (empty ``(L + 1, 0)`` for an env without one); the first goal frame."""

    success: bool
    steps: int
    goals_reached: int
    frames: np.ndarray | None = None
    states: np.ndarray | None = None
    actions: np.ndarray | None = None
    goals: np.ndarray | None = None
    goal_frame: np.ndarray | None = None


def run_episode(env: Any, policy: Policy, seed: int, options: dict | None = None, *,
                rng: np.random.Generator | None = None, max_steps: int | None = None, retarget: bool = False,
                record: bool = False) -> EpisodeRecord:
    """Run ``policy`` on ``env`` reset with ``seed`` and ``options`` until terminated, truncated or ``max_steps``
    actions. The policy draws from ``rng`` (default ``default_rng([seed, 1])``). With ``retarget``, a reached goal is
    replaced by a new one drawn from where the agent stands (a seeded reset adding the ``start`` option; the row
    then shows the new task) and the episode goes on. ``record`` keeps the frames, states, actions and goals."""
    options = dict(options or {})
    rng = np.random.default_rng([seed, 1]) if rng is None else rng
    obs, info = env.reset(seed=seed, options=options) if options else env.reset(seed=seed)
    policy.reset(env, rng)
    rows: dict[str, list] = {"frames": [], "states": [], "actions": [], "goals": []}

    def keep(obs: dict, info: dict) -> None:
        if record:
            rows["frames"].append(obs["pixels"])
            rows["states"].append(obs["state"])
            rows["goals"].append(np.asarray(info.get("goal", np.zeros(0)), np.float32).reshape(-1))

    keep(obs, info)
    goal_frame = info.get("goal_pixels")
    steps, reached, done = 0, 0, bool(info.get("success", False)) and not retarget
    while not done and (max_steps is None or steps < max_steps):
        action = np.asarray(policy.act(env, observation(obs, info)), dtype=np.float32)
        obs, _, terminated, truncated, info = env.step(action)
        steps += 1
        reached += bool(info.get("success", False))
        if retarget and terminated and not truncated and info.get("success", False):
            obs, info = env.reset(seed=int(rng.integers(2**31)), options={**options, "start": obs["state"]})
            policy.reset(env, rng)
        else:
            done = terminated or truncated
        if record:
            rows["actions"].append(action)
        keep(obs, info)
    success = reached > 0 if retarget else bool(info.get("success", False))
    if not record:
        return EpisodeRecord(success, steps, reached)
    actions = np.stack(rows["actions"]) if rows["actions"] else np.zeros((0, *env.action_space.shape), np.float32)
    return EpisodeRecord(success, steps, reached, np.stack(rows["frames"]),
                         np.stack(rows["states"]).astype(np.float32), actions, np.stack(rows["goals"]), goal_frame)


def success_rate(env: Any, policy: Policy, episodes: int, seed: int, different_rooms: bool = True) -> float:
    """Share of ``episodes`` (episode e seeded ``seed + e``) that reach the goal within ``env.max_steps``."""
    options = {"different_rooms": different_rooms}
    return float(np.mean([run_episode(env, policy, seed + e, options).success for e in range(episodes)]))
