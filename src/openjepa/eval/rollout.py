"""``openjepa rollout``: how often a learned policy run (ACT-JEPA) reaches its goals closed loop, beside the
baseline policies its environment has and, optionally, other policy runs, on the same seeded tasks."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from tqdm import tqdm

from openjepa.control.chunk_policy import ChunkExecution, ChunkPolicy
from openjepa.control.envs import make_env, plan_options, run_episode
from openjepa.control.plan import baseline_report, env_baselines
from openjepa.control.plots import save_rollouts
from openjepa.core.errors import ConfigError, TrainingError
from openjepa.core.protocols import ActsInChunks
from openjepa.data.trajectories.store import TrajectoryStore
from openjepa.data.trajectories.windowset import is_trajectory_store
from openjepa.runs.build import load_trained_method
from openjepa.runs.files import check_report_target, write_json_atomic

log = logging.getLogger("openjepa")
SHOWN = 4  # episodes recorded for the picture


def load_policy(run_dir: Path, execution: dict | None = None) -> tuple[ChunkPolicy, object]:
    """The policy of a run (its recipe's execution settings, changed by ``execution``) and the run's config."""
    cfg, model = load_trained_method(run_dir, "cpu")
    if not isinstance(model, ActsInChunks):
        raise TrainingError(f"{run_dir} is a '{cfg.method.name}' run; rollouts need a policy run (actjepa recipes)")
    model.eval().requires_grad_(False)
    settings = {**vars(model.execution), **(execution or {})}
    return ChunkPolicy(model, ChunkExecution(**settings)), cfg


def check_acts_in(run_dir: Path, cfg, env) -> None:
    """Refuse a policy whose frames or actions are not the env's."""
    pixels, actions = env.observation_space["pixels"].shape[:2], env.action_space.shape[0]
    if actions != cfg.spec.action_dim or pixels != tuple(cfg.spec.size):
        raise ConfigError(f"{run_dir} reads {tuple(cfg.spec.size)} frames and acts with {cfg.spec.action_dim} values "
                          f"per step; this env shows {pixels} and takes {actions} (train on its store with "
                          f"data.frame_step=1)")


def demonstrations(cfg) -> TrajectoryStore | None:
    """The store the run learnt from, if it is still there."""
    store = Path(cfg.data.dataset)
    return TrajectoryStore(store) if is_trajectory_store(store) else None


def run_env(store: TrajectoryStore | None, env: str | None, cfg) -> str:
    """The env to roll out in: ``env``, else the one the run's demonstrations were collected in."""
    recorded = env or (store.env if store else None)
    if not recorded:
        raise ConfigError(f"the env of {cfg.data.dataset} is not known (no store there, or it records none): pass "
                          f"--env")
    return recorded


def warn_if_seen(store: TrajectoryStore | None, seed: int, episodes: int) -> None:
    """Warn when the rollout's episode seeds overlap those the run's demonstrations were collected with (the same
    starts and goals)."""
    if store is not None and "seed" in store.extra:
        first, last = int(store.extra["seed"]), int(store.extra["seed"]) + store.num_episodes
        if seed < last and first < seed + episodes:
            log.warning("episode seeds %d-%d overlap the demonstrations' (%d-%d): these tasks were seen in "
                        "training; pass --seed %d", seed, seed + episodes - 1, first, last - 1, last)


def success(policy, env, episodes: int, seed: int, options: dict, max_steps: int, desc: str,
            progress: bool) -> list:
    """Episodes ``seed + e`` of ``policy`` (the first :data:`SHOWN` recorded)."""
    runs = []
    bar = tqdm(range(episodes), desc=desc, unit="episode", disable=not progress)
    for e in bar:
        runs.append(run_episode(env, policy, seed + e, options, max_steps=max_steps, record=e < SHOWN))
        bar.set_postfix(success=f"{np.mean([r.success for r in runs]):.2f}")
    return runs


def rollout_run(run_dir: str | Path, *, env: str | None = None, episodes: int = 50, out: str | Path | None = None,
                seed: int = 1000, max_steps: int = 200, beside: list[str | Path] = (), execution: dict | None = None,
                progress: bool = True) -> dict:
    """Roll the run's policy out on ``episodes`` seeded tasks of ``env`` (its planning tasks, ``plan_options``),
    beside the env's baselines (random always) and the policies of the ``beside`` runs on the same tasks; writes
    ``out`` (default ``RUN/rollout.json``) and ``RUN/plots/rollouts.png``. ``execution``: settings of the run's
    chunk execution to change (``execute``, ``ensemble``)."""
    run_dir = Path(run_dir)
    out = Path(out) if out else run_dir / "rollout.json"
    check_report_target(out, ("success_rate",), "rollout")
    policy, cfg = load_policy(run_dir, execution)
    store = demonstrations(cfg)
    name = run_env(store, env, cfg)
    environment = make_env(name, image_size=cfg.spec.size[0], max_steps=max_steps)
    check_acts_in(run_dir, cfg, environment)
    warn_if_seen(store, seed, episodes)
    options = plan_options(name)
    runs = success(policy, environment, episodes, seed, options, max_steps, "rollout", progress)
    report = {"success_rate": float(np.mean([r.success for r in runs])), "episodes": episodes, "env": name,
              "mean_steps": float(np.mean([r.steps for r in runs])), "seed": seed, "max_steps": max_steps,
              "execution": vars(policy.execution)}
    report.update(baseline_report(environment, env_baselines(name), episodes, seed, options, max_steps))
    if beside:
        report["beside"] = {}
        for other in beside:
            other_policy, other_cfg = load_policy(Path(other), execution)
            check_acts_in(Path(other), other_cfg, environment)
            done = success(other_policy, environment, episodes, seed, options, max_steps, f"rollout {other}",
                           progress)
            report["beside"][str(other)] = float(np.mean([r.success for r in done]))
    plots = run_dir / "plots"
    plots.mkdir(exist_ok=True)
    save_rollouts([r for r in runs if r.frames is not None], plots / "rollouts.png",
                  f"{cfg.method.name} on {name}: success {report['success_rate']:.2f} over {episodes} episodes")
    write_json_atomic(out, report)
    others = ", ".join(f"{key[:-13].replace('_', ' ')} {value:.2f}" for key, value in report.items()
                       if key.endswith("_success_rate") and key != "success_rate")
    log.info("success %.2f (%s); %s", report["success_rate"], others, out)
    return report
