"""Environments for world-model planning (gymnasium API) and their scripted policies.

    env = make_env("tworoom", image_size=64)          # or "reach": the open arena
    obs, info = env.reset(seed=0, options=plan_options("tworoom"))
    policy = make_policy("noisy_expert", env="tworoom")
    policy.reset(env, np.random.default_rng(0))
    obs, reward, terminated, truncated, info = env.step(policy.act(env))

Every env observes ``{"pixels": uint8 (S, S, 3), "state": float32 (D,)}``, takes actions in [-1, 1]^A, and puts
``goal`` (the goal state), ``goal_pixels`` (the goal as a frame) and ``success`` in its infos. ``tworoom`` and
``reach`` are built in (numpy only; registered with gymnasium as ``openjepa/TwoRoom-v0`` and ``openjepa/Reach-v0``);
``pusht`` (gym-pusht) and ``reacher`` (dm_control) come with the pip extras of the same names and are imported on
first use.
"""

from __future__ import annotations

import difflib
import importlib
from types import ModuleType
from typing import Any, Callable

import gymnasium

from openjepa.config import ConfigError
from openjepa.world.envs.policies import (
    POLICIES, NoisyExpert, Policy, RandomPolicy, StraightLine, run_episode, success_rate,
)
from openjepa.world.envs.tworoom import ReachEnv, TwoRoomEnv

ENVS: dict[str, Callable[..., TwoRoomEnv]] = {"tworoom": TwoRoomEnv, "reach": ReachEnv}
# env name -> its class in ``openjepa.world.envs.<name>``, which needs ``pip install openjepa[<name>]``
EXTRA_ENVS = {"pusht": "PushTEnv", "reacher": "ReacherEnv"}
# reset options of the tasks ``openjepa plan`` measures (none: the env's own task distribution)
PLAN_OPTIONS: dict[str, dict[str, Any]] = {"tworoom": {"different_rooms": True}, "reach": {"different_rooms": True}}
GYM_IDS = {"openjepa/TwoRoom-v0": "openjepa.world.envs.tworoom:TwoRoomEnv",
           "openjepa/Reach-v0": "openjepa.world.envs.tworoom:ReachEnv"}

for _id, _entry_point in GYM_IDS.items():
    if _id not in gymnasium.registry:
        gymnasium.register(id=_id, entry_point=_entry_point)


class MissingExtraError(ImportError, ConfigError):
    """An environment whose pip extra is not installed (an ImportError the CLI reports as a user error)."""


def _check_name(name: str) -> None:
    known = sorted([*ENVS, *EXTRA_ENVS])
    if name not in known:
        close = difflib.get_close_matches(name.lower(), known, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"unknown environment {name!r}; known: {known}{hint}")


def _extra_module(name: str) -> ModuleType:
    """The module of an extra env, or a MissingExtraError naming the pip extra to install."""
    try:
        return importlib.import_module(f"openjepa.world.envs.{name}")
    except ModuleNotFoundError as err:
        if (err.name or "").split(".")[0] == "openjepa":
            raise
        raise MissingExtraError(f"the {name!r} environment needs packages that are not installed (no module "
                                f"{err.name!r}): pip install 'openjepa[{name}]'") from err


def make_env(name: str, **kwargs: Any) -> gymnasium.Env:
    """An environment by name (``tworoom``, ``reach``, ``pusht``, ``reacher``); ``kwargs`` go to its constructor."""
    _check_name(name)
    if name in ENVS:
        return ENVS[name](**kwargs)
    return getattr(_extra_module(name), EXTRA_ENVS[name])(**kwargs)


def env_policies(env: str) -> dict[str, Callable[..., Policy]]:
    """The scripted policies of an environment by name: policy name -> class (or factory)."""
    _check_name(env)
    return POLICIES if env in ENVS else _extra_module(env).POLICIES


def make_policy(name: str, env: str = "tworoom", **kwargs: Any) -> Policy:
    """A scripted policy of ``env`` by name (``random`` for all; TwoRoom's: ``noisy_expert``, ``expert``,
    ``straight_line``); ``kwargs`` go to its class."""
    policies = env_policies(env)
    if name not in policies:
        raise ValueError(f"unknown policy {name!r} for {env!r}; known: {sorted(policies)}")
    return policies[name](**kwargs)


def plan_options(env: str) -> dict[str, Any]:
    """The reset options of the planning tasks on ``env`` (TwoRoom: start and goal in different rooms)."""
    _check_name(env)
    return dict(PLAN_OPTIONS.get(env, {}))


__all__ = [
    "ENVS", "EXTRA_ENVS", "GYM_IDS", "PLAN_OPTIONS", "POLICIES", "MissingExtraError", "NoisyExpert", "Policy",
    "RandomPolicy", "ReachEnv", "StraightLine", "TwoRoomEnv", "env_policies", "make_env", "make_policy",
    "plan_options", "run_episode", "success_rate",
]
