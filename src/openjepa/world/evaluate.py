"""Evaluate a world-model run: how well its latents read out the agent's state (``openjepa eval``), and how
often planning in its latent space reaches goal images (``openjepa plan``), each beside baselines measured
in the same run."""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, replace
from functools import partial
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from openjepa.eval.video import dense_probe
from openjepa.world.envs.policies import Policy
from openjepa.world.model import LeWorldModel
from openjepa.world.mpc import Episode, PlanConfig, WorldModel, run_mpc_episode

log = logging.getLogger("openjepa")
# the baselines measured beside planning where the env has them (settings for its policy): i.i.d. uniform actions
# for the random one (collection's random policy holds actions to travel further)
BASELINES = {"random": {"max_hold": 1}, "expert": {}, "straight_line": {}}


@torch.no_grad()
def features_of(model: LeWorldModel, frames: torch.Tensor, batch_size: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """The encoder's pooled features ``(N, D)`` of uint8 frames ``(N, C, H, W)``, and the latents ``(N, Dz)`` the
    projector makes of them."""
    model.eval()
    pooled = torch.cat([model.pooled(frames[i : i + batch_size].float().div(255))
                        for i in range(0, len(frames), batch_size)])
    return pooled, model.projector(pooled)


def ridge_r2(train: tuple[torch.Tensor, torch.Tensor], test: tuple[torch.Tensor, torch.Tensor]) -> float:
    """R^2 on the test pairs of a ridge readout of the state ``(N, S)`` from features ``(N, D)`` fitted on the
    training pairs, averaged over state dimensions."""
    (x_train, y_train), (x_test, y_test) = train, test
    return float(np.mean([dense_probe(x_train[:, None], y_train[:, None, d], x_test[:, None], y_test[:, None, d])
                          for d in range(y_train.shape[1])]))


# the readouts evaluate_world reports, in features_of's order: the encoder's features before the projector (the
# representation SSL probes by convention), and the latents the predictor and planner work on (SIGReg shapes them)
READOUTS = {"position_r2_encoder": "encoder", "position_r2": "latents"}


def evaluate_world(trained: LeWorldModel, random_init: LeWorldModel, data, frames: int = 4000) -> dict:
    """``{"position_r2": {"trained", "random_init"}, "position_r2_encoder": {...}}`` on frames of held-out
    episodes; ridge fitted on training episodes."""
    from openjepa.world.windows import frames_states

    started = time.perf_counter()
    train = frames_states(data.store, max_frames=frames, seed=0, episodes=data.train_episodes)
    test = frames_states(data.store, max_frames=frames // 4, seed=1, episodes=data.test_episodes)
    results = {key: {} for key in READOUTS}
    for name, model in (("trained", trained), ("random_init", random_init)):
        per_readout = zip(features_of(model, train[0]), features_of(model, test[0]))
        for (key, readout), (x_train, x_test) in zip(READOUTS.items(), per_readout):
            results[key][name] = ridge_r2((x_train, train[1]), (x_test, test[1]))
            log.info("%-12s state probe R^2 (%s): %.3f", name, readout, results[key][name])
    results["meta"] = {"dataset": data.name, "train_frames": len(train[0]), "test_frames": len(test[0]),
                       "features": "position_r2: world-model latents (projector output); position_r2_encoder: the "
                                   "encoder's mean-pooled tokens before the projector; ridge readout of the state",
                       "seconds": round(time.perf_counter() - started, 1)}
    return results


def success_rate(episodes: list[Episode]) -> float:
    return float(np.mean([e.success for e in episodes]))


def plan_report(model: WorldModel, env_factory, config: PlanConfig, frameskip: int, episodes: int, seed: int,
                reset_options: dict, baselines: dict[str, Callable[[], Policy]],
                progress: bool = True) -> tuple[dict, list[Episode]]:
    """Success of MPC with ``model`` over ``episodes`` seeded tasks (env resets with ``reset_options``), and of
    baseline policies (name -> a function making the policy) on the same tasks."""
    from tqdm import tqdm

    from openjepa.world.envs import run_episode

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
    for name, make_policy in baselines.items():
        runs = [run_episode(env, make_policy(), seed + e, reset_options) for e in range(episodes)]
        report[f"{name}_success_rate"] = float(np.mean([success for success, _ in runs]))
        report[f"{name}_mean_steps"] = float(np.mean([steps for _, steps in runs]))
    return report, planned


def plan_run(run_dir: str | Path, *, env: str | None = None, episodes: int = 50, planner: str | None = None,
             out: str | Path | None = None, seed: int = 1000, threads: int | None = None,
             overrides: dict | None = None, progress: bool = True) -> dict:
    """Plan toward goal images with a trained world-model run on the env's planning tasks (``plan_options``),
    beside the baselines the env has (random always); writes ``out`` (default ``RUN/plan.json``) and
    ``RUN/plots/plan_episodes.png``, and for the built-in envs ``RUN/plots/energy_landscape.png``."""
    from openjepa.eval.evaluate import load_trained_method, write_json_atomic
    from openjepa.train.trainer import TrainingError
    from openjepa.world.envs import ENVS, env_policies, make_env, make_policy, plan_options
    from openjepa.world.plots import save_energy_landscape, save_plan_episodes

    run_dir = Path(run_dir)
    cfg, model = load_trained_method(run_dir, "cpu")
    if not isinstance(model, WorldModel):
        raise TrainingError(f"{run_dir} is a '{cfg.method.name}' run; planning needs a world model (lewm or vjepa2ac "
                            f"recipes)")
    if threads:
        torch.set_num_threads(threads)
    config = replace(cfg.plan, **(overrides or {}))
    if env:
        config.env = env
    if planner:
        config.planner = planner
        if planner != cfg.plan.planner and not (overrides or {}).get("planner_args"):
            config.planner_args = {}
    config.validate()
    size = cfg.data.image_size
    factory = lambda: make_env(config.env, image_size=size, max_steps=config.max_steps)  # noqa: E731
    has = env_policies(config.env)
    baselines = {name: partial(make_policy, name, env=config.env, **kwargs) for name, kwargs in BASELINES.items()
                 if name in has}
    report, planned = plan_report(model, factory, config, cfg.data.frame_step, episodes, seed,
                                  plan_options(config.env), baselines, progress)
    plots = run_dir / "plots"
    plots.mkdir(exist_ok=True)
    save_plan_episodes(planned[:4], model, plots / "plan_episodes.png")
    if config.env in ENVS:  # the picture resets with TwoRoom's options and reads the state as a position
        save_energy_landscape(model, factory(), seed, config, cfg.data.frame_step, plots / "energy_landscape.png")
    out = Path(out) if out else run_dir / "plan.json"
    write_json_atomic(out, report)
    beside = ", ".join(f"{name.replace('_', ' ')} {report[f'{name}_success_rate']:.2f}" for name in baselines)
    log.info("success %.2f (%s); %.3f s per plan; %s", report["success_rate"], beside, report["mean_plan_seconds"],
             out)
    return report
