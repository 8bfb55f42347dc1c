"""``openjepa plan``: how often planning in a world-model run's latent space reaches goal images, beside the
baseline policies its environment has, on the same seeded tasks."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import torch

from openjepa.control.envs import make_env, plan_options
from openjepa.control.plan import env_baselines, plan_report
from openjepa.control.plots import save_energy_landscape, save_plan_episodes
from openjepa.control.registry import ENVS
from openjepa.core.errors import TrainingError
from openjepa.core.protocols import WorldModel
from openjepa.runs.build import load_trained_method
from openjepa.runs.files import check_report_target, write_json_atomic

log = logging.getLogger("openjepa")


def plan_run(run_dir: str | Path, *, env: str | None = None, episodes: int = 50, planner: str | None = None,
             out: str | Path | None = None, seed: int = 1000, threads: int | None = None,
             overrides: dict | None = None, progress: bool = True) -> dict:
    """Plan toward goal images with a trained world-model run on the env's planning tasks (``plan_options``),
    beside the baselines the env has (random always); writes ``out`` (default ``RUN/plan.json``) and
    ``RUN/plots/plan_episodes.png``, and for envs whose state is a 2-D position ``RUN/plots/energy_landscape.png``.
    ``overrides``: settings of the run's plan config to change."""
    run_dir = Path(run_dir)
    out = Path(out) if out else run_dir / "plan.json"
    check_report_target(out, ("success_rate",), "planning")
    cfg, model = load_trained_method(run_dir, "cpu")
    if not isinstance(model, WorldModel):
        raise TrainingError(f"{run_dir} is a '{cfg.method.name}' run; planning needs a world model (lewm or vjepa2ac "
                            f"recipes)")
    if threads:
        torch.set_num_threads(threads)
    config = replace(model.plan_config, **(overrides or {}))
    if env:
        config.env = env
    if planner:
        config.planner = planner
        if planner != model.plan_config.planner and not (overrides or {}).get("planner_args"):
            config.planner_args = {}
    config.validate()
    size = cfg.spec.size[0]
    factory = lambda: make_env(config.env, image_size=size, max_steps=config.max_steps)  # noqa: E731
    baselines = env_baselines(config.env)
    report, planned = plan_report(model, factory, config, cfg.data.frame_step, episodes, seed,
                                  plan_options(config.env), baselines, progress)
    plots = run_dir / "plots"
    plots.mkdir(exist_ok=True)
    save_plan_episodes(planned[:4], model, plots / "plan_episodes.png")
    if ENVS.info(config.env).get("landscape"):
        save_energy_landscape(model, factory(), seed, config, cfg.data.frame_step, plots / "energy_landscape.png")
    write_json_atomic(out, report)
    beside = ", ".join(f"{name.replace('_', ' ')} {report[f'{name}_success_rate']:.2f}" for name in baselines)
    log.info("success %.2f (%s); %.3f s per plan; %s", report["success_rate"], beside, report["mean_plan_seconds"],
             out)
    return report
