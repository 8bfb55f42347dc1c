"""Environments for world-model planning (gymnasium API) and their scripted policies.

    env = make_env("tworoom", image_size=64)          # or "reach": the open arena
    obs, info = env.reset(seed=0, options=plan_options("tworoom"))
    policy = make_policy("noisy_expert", env="tworoom")
    policy.reset(env, np.random.default_rng(0))
    record = run_episode(env, policy, seed=0, options=plan_options("tworoom"), record=True)  # or step by hand:
    obs, reward, terminated, truncated, info = env.step(policy.act(env, observation(obs, info)))

Every env observes ``{"pixels": uint8 (S, S, 3), "state": float32 (D,)}``, takes actions in [-1, 1]^A, and puts
``goal`` (the goal state), ``goal_pixels`` (the goal as a frame) and ``success`` in its infos. ``tworoom``,
``tworoom_pushes`` (TwoRoom with random pushes: stochastic dynamics) and ``reach`` are built in (numpy only;
registered with gymnasium as ``openjepa/TwoRoom-v0``, ``openjepa/TwoRoomPushes-v0`` and ``openjepa/Reach-v0``);
``pusht`` (gym-pusht) and ``reacher`` (dm_control) come with the pip extras of the same names and are imported on
first use. Each is registered in ``ENVS`` with its scripted policies (an extra env's module defines ``POLICIES``)
and the reset options of the tasks ``openjepa plan`` measures (none: the env's own task distribution).
"""

from __future__ import annotations

import sys
from typing import Any, Callable

import gymnasium

from openjepa.control.envs.episodes import EpisodeRecord, observation, run_episode, success_rate
from openjepa.control.envs.policies import POLICIES, NoisyExpert, Policy, RandomPolicy, StraightLine
from openjepa.control.envs.tworoom import ReachEnv, TwoRoomEnv, TwoRoomPushesEnv
from openjepa.control.registry import ENVS
from openjepa.core.errors import ConfigError, suggest

GYM_IDS = {"openjepa/TwoRoom-v0": "openjepa.control.envs.tworoom:TwoRoomEnv",
           "openjepa/TwoRoomPushes-v0": "openjepa.control.envs.tworoom:TwoRoomPushesEnv",
           "openjepa/Reach-v0": "openjepa.control.envs.tworoom:ReachEnv"}

# ``landscape``: the energy-landscape picture of ``openjepa plan`` reads its state as a 2-D position
ENVS.register("tworoom", policies=POLICIES, plan_options={"different_rooms": True}, landscape=True)(TwoRoomEnv)
ENVS.register("tworoom_pushes", policies=POLICIES, plan_options={"different_rooms": True},
              landscape=True)(TwoRoomPushesEnv)
ENVS.register("reach", policies=POLICIES, plan_options={"different_rooms": True}, landscape=True)(ReachEnv)
ENVS.register_lazy("pusht", "openjepa.control.envs.pusht:PushTEnv", extra="pusht")
ENVS.register_lazy("reacher", "openjepa.control.envs.reacher:ReacherEnv", extra="reacher")

for _id, _entry_point in GYM_IDS.items():
    if _id not in gymnasium.registry:
        gymnasium.register(id=_id, entry_point=_entry_point)


def make_env(name: str, **kwargs: Any) -> gymnasium.Env:
    """An environment by name (``tworoom``, ``tworoom_pushes``, ``reach``, ``pusht``, ``reacher``); ``kwargs`` go to
    its constructor."""
    return ENVS.get(name)(**kwargs)


def env_policies(env: str) -> dict[str, Callable[..., Policy]]:
    """The scripted policies of an environment by name: policy name -> class (or factory)."""
    cls = ENVS.get(env)
    return ENVS.info(env).get("policies") or sys.modules[cls.__module__].POLICIES


def make_policy(name: str, env: str = "tworoom", **kwargs: Any) -> Policy:
    """A scripted policy of ``env`` by name (``random`` for all; TwoRoom's: ``noisy_expert``, ``expert``,
    ``straight_line``); ``kwargs`` go to its class."""
    policies = env_policies(env)
    if name not in policies:
        raise ConfigError(f"unknown policy '{name}' for {env}{suggest(name, list(policies), 'policies')}")
    return policies[name](**kwargs)


def plan_options(env: str) -> dict[str, Any]:
    """The reset options of the planning tasks on ``env`` (TwoRoom: start and goal in different rooms)."""
    ENVS.get(env)
    return dict(ENVS.info(env).get("plan_options", {}))


__all__ = [
    "GYM_IDS", "POLICIES", "EpisodeRecord", "NoisyExpert", "Policy", "RandomPolicy", "ReachEnv", "StraightLine",
    "TwoRoomEnv", "TwoRoomPushesEnv", "env_policies", "make_env", "make_policy", "observation", "plan_options",
    "run_episode", "success_rate",
]
