"""Roll a policy out in an environment and record the episodes as a trajectory store."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from openjepa.core.errors import ConfigError
from openjepa.data.trajectories.store import TrajectoryStore, TrajectoryWriter, check_store_target

log = logging.getLogger("openjepa")


def collect(env: str | Any, episodes: int, policy: str | Any = "random", out: str | Path | None = None, *,
            seed: int = 0, image_size: int = 32, max_steps: int = 200, retarget: bool = True, overwrite: bool = False,
            progress: bool = True, env_kwargs: dict[str, Any] | None = None,
            reset_options: dict[str, Any] | None = None) -> TrajectoryStore:
    """Record ``episodes`` rollouts into a new store at ``out`` and return it opened.

    ``env`` is a name for ``openjepa.control.envs.make_env`` (built with ``image_size``, ``max_steps`` and
    ``env_kwargs``) or an env object with the gymnasium API and ``{"pixels", "state"}`` observations; ``policy``
    is a name of the env's scripted policies (``make_policy(name, env=...)``; TwoRoom's for an env object), or
    several, comma-separated: episode ``e`` uses the ``e % k``-th (e.g. ``noisy_expert,random`` mixes purposeful
    paths with wall bumps), or an object with ``reset(env, rng)`` and ``act(env, observation)`` (the policy
    protocol of :mod:`openjepa.control.envs.policies`). Episode ``e`` resets the env
    with ``seed + e`` and ``reset_options`` (none by default: the env's own tasks; e.g. ``{"different_rooms": True}``
    on TwoRoom) and the policy with ``default_rng([seed, e])``, so the store is a function of ``seed``. An episode
    ends when truncated or after ``max_steps`` actions; when its goal is reached it ends too, unless ``retarget``
    (the default: world models learn from long, varied episodes), which gives the policy a new goal from where the
    agent stands (not for an env whose goal never moves, ``env.fixed_goal``: PushT). The store records the goal of
    every row (the env's ``info["goal"]``: what goal-conditioned policies learn from) and, in ``extra``, goals
    reached per episode.
    """
    if out is None:
        raise ConfigError("collect() needs out=PATH, the folder to write the trajectory store to")
    for name, value in (("episodes", episodes), ("max_steps", max_steps), ("image_size", image_size)):
        if value < 1:
            raise ConfigError(f"{name} (--{name.replace('_', '-')}) must be >= 1, got {value}")
    check_store_target(Path(out), overwrite)
    env_name = env if isinstance(env, str) else getattr(getattr(env, "spec", None), "id", None)
    policy_name = policy if isinstance(policy, str) else type(policy).__name__
    from openjepa.control.envs import make_env, make_policy, run_episode

    if isinstance(policy, str):
        policies = [make_policy(name.strip(), env=env if isinstance(env, str) else "tworoom")
                    for name in policy.split(",")]
    else:
        policies = [policy]
    if isinstance(env, str):
        env = make_env(env, image_size=image_size, max_steps=max_steps, **(env_kwargs or {}))
    retarget = retarget and not getattr(env, "fixed_goal", False)
    reset_options = reset_options or {}
    extra = {"policy": policy_name, "seed": seed, "max_steps": max_steps, "retarget": retarget,
             "env_kwargs": env_kwargs or {},
             "reset_options": {key: np.asarray(value).tolist() for key, value in reset_options.items()}}
    writer = None
    reached = []
    with tqdm(disable=not progress, unit="step", desc=f"collect {env_name or 'env'}", dynamic_ncols=True) as bar:
        try:
            for e in range(episodes):
                episode = run_episode(env, policies[e % len(policies)], seed + e, reset_options,
                                      rng=np.random.default_rng([seed, e]), max_steps=max_steps, retarget=retarget,
                                      record=True)
                if not episode.steps:
                    continue  # the task was solved at reset: nothing to learn from
                if writer is None:
                    writer = TrajectoryWriter(out, image_size=episode.frames.shape[1:3],
                                              channels=episode.frames.shape[3], action_dim=episode.actions.shape[1],
                                              state_dim=episode.states.shape[1], env=env_name, extra=extra,
                                              overwrite=overwrite, goal_dim=episode.goals.shape[1])
                writer.add_episode(episode.frames, episode.actions, episode.states,
                                   episode.goals if writer.goal_dim else None)
                reached.append(episode.goals_reached)
                bar.update(episode.steps)
                bar.set_postfix(episode=f"{e + 1}/{episodes}")
        except BaseException:
            if writer is not None:
                writer.abort()
            raise
    if writer is None:
        raise ConfigError(f"every one of the {episodes} episodes was solved at reset: nothing to record (nothing "
                          f"written to {out})")
    writer.extra["goals_reached_per_episode"] = float(np.mean(reached))
    store = writer.close()
    log.info("collected %d episodes (%d rows, %.2f goals reached per episode) into %s", store.num_episodes,
             store.num_steps, writer.extra["goals_reached_per_episode"], store.path)
    return store
