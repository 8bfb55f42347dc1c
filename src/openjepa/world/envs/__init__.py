"""Built-in navigation environments (numpy only, gymnasium API) and scripted policies for world-model planning.

    env = make_env("tworoom", image_size=64)          # or "reach": the open arena
    obs, info = env.reset(seed=0, options={"different_rooms": True})
    policy = make_policy("noisy_expert")
    policy.reset(env, np.random.default_rng(0))
    obs, reward, terminated, truncated, info = env.step(policy.act(env))

Also registered with gymnasium as ``openjepa/TwoRoom-v0`` and ``openjepa/Reach-v0``.
"""

from __future__ import annotations

import difflib
from typing import Any, Callable

import gymnasium

from openjepa.world.envs.policies import (
    POLICIES, NoisyExpert, Policy, RandomPolicy, StraightLine, make_policy, run_episode, success_rate,
)
from openjepa.world.envs.tworoom import ReachEnv, TwoRoomEnv

ENVS: dict[str, Callable[..., TwoRoomEnv]] = {"tworoom": TwoRoomEnv, "reach": ReachEnv}
GYM_IDS = {"openjepa/TwoRoom-v0": "openjepa.world.envs.tworoom:TwoRoomEnv",
           "openjepa/Reach-v0": "openjepa.world.envs.tworoom:ReachEnv"}

for _id, _entry_point in GYM_IDS.items():
    if _id not in gymnasium.registry:
        gymnasium.register(id=_id, entry_point=_entry_point)


def make_env(name: str, **kwargs: Any) -> TwoRoomEnv:
    """An environment by name (``tworoom``, ``reach``); ``kwargs`` go to its constructor."""
    if name not in ENVS:
        close = difflib.get_close_matches(name.lower(), list(ENVS), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"unknown environment {name!r}; known: {sorted(ENVS)}{hint}")
    return ENVS[name](**kwargs)


__all__ = [
    "ENVS", "GYM_IDS", "POLICIES", "NoisyExpert", "Policy", "RandomPolicy", "ReachEnv", "StraightLine", "TwoRoomEnv",
    "make_env", "make_policy", "run_episode", "success_rate",
]
