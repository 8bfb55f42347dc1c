"""Success of model-predictive control with a world model on seeded tasks, beside baseline policies on the same
tasks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from functools import partial

import numpy as np
import torch
from tqdm import tqdm

from openjepa.control.envs import env_policies, make_policy, run_episode
from openjepa.control.envs.policies import Policy
from openjepa.control.mpc import Episode, PlanConfig, run_mpc_episode
from openjepa.core.protocols import WorldModel

# the baselines measured beside planning where the env has them (settings for its policy): i.i.d. uniform actions
# for the random one (collection's random policy holds actions to travel further)
BASELINES = {"random": {"max_hold": 1}, "expert": {}, "straight_line": {}}


def success_rate(episodes: list[Episode]) -> float:
    return float(np.mean([e.success for e in episodes]))


def plan_report(model: WorldModel, env_factory, config: PlanConfig, frameskip: int, episodes: int, seed: int,
                reset_options: dict, baselines: dict[str, Callable[[], Policy]],
                progress: bool = True) -> tuple[dict, list[Episode]]:
    """Success of MPC with ``model`` over ``episodes`` seeded tasks (env resets with ``reset_options``), and of
    baseline policies (name -> a function making the policy) on the same tasks."""
    model.eval().requires_grad_(False)
    env = env_factory()
    planned = []
    bar = tqdm(range(episodes), desc=f"plan ({config.planner})", unit="episode", disable=not progress)
    for e in bar:
        planned.append(run_mpc_episode(model, env, seed + e, config, frameskip, reset_options))
        bar.set_postfix(success=f"{success_rate(planned):.2f}")
    seconds = [s for ep in planned for s in ep.plan_seconds]
    report = {
        "success_rate": success_rate(planned),
        "episodes": episodes,
        "mean_steps": float(np.mean([ep.steps for ep in planned])),
        "mean_steps_successful": float(np.mean([ep.steps for ep in planned if ep.success])) if any(
            ep.success for ep in planned) else None,
        "mean_plan_seconds": float(np.mean(seconds)),
        "plan_calls": len(seconds),
        "threads": torch.get_num_threads(),
        "plan": asdict(config),
        "frameskip": frameskip,
    }
    report.update(baseline_report(env, baselines, episodes, seed, reset_options))
    return report, planned


def env_baselines(env: str) -> dict[str, Callable[[], Policy]]:
    """The :data:`BASELINES` the env ``env`` has (random always), as functions making the policy."""
    has = env_policies(env)
    return {name: partial(make_policy, name, env=env, **kwargs) for name, kwargs in BASELINES.items() if name in has}


def baseline_report(env, baselines: dict[str, Callable[[], Policy]], episodes: int, seed: int, reset_options: dict,
                    max_steps: int | None = None) -> dict[str, float]:
    """``{NAME_success_rate, NAME_mean_steps}`` of each baseline over the episodes ``seed + e``."""
    report = {}
    for name, make in baselines.items():
        runs = [run_episode(env, make(), seed + e, reset_options, max_steps=max_steps) for e in range(episodes)]
        report[f"{name}_success_rate"] = float(np.mean([run.success for run in runs]))
        report[f"{name}_mean_steps"] = float(np.mean([run.steps for run in runs]))
    return report
