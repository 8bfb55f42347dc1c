"""``openjepa eval``: run a trained run's evaluation tasks (its modality's and its method's, or those ``eval.tasks``
lists), each beside its baselines measured in the same run -> ``RUN/eval.json`` and ``RUN/report.md``."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from openjepa.core.config import parse_overrides
from openjepa.core.device import pick_device
from openjepa.core.errors import ConfigError, DataError
from openjepa.core.protocols import Method
from openjepa.eval.registry import EVAL_TASKS
from openjepa.eval.report import write_report
from openjepa.eval.task import EvalContext, EvalTask
from openjepa.methods.registry import METHODS
from openjepa.modalities.registry import MODALITIES, load_data
from openjepa.runs.build import load_trained_method, random_init_method
from openjepa.runs.config import RunConfig, build_config, config_dict
from openjepa.runs.files import save_safetensors_atomic, write_json_atomic

log = logging.getLogger("openjepa")


@dataclass
class Evaluation:
    """What an evaluation wrote: the ``eval.json`` contents and the report's text table."""

    results: dict
    table: str


@torch.no_grad()
def target_lag(trained: Method, initial: Method) -> float | None:
    """How far the trained target encoder trails the context encoder, as a share of the way the context encoder
    has moved from ``initial`` (the same method at random init): ``|target - context| / |context - init|`` over
    the encoder weights. 0: caught up; about 1: the target still sits at its random init (a short run with a
    slow EMA). None when the target is the context encoder itself or nothing has moved."""
    context, target = trained.eval_encoder("context"), trained.eval_encoder("target")
    if context is target:
        return None
    init, trailing = dict(initial.eval_encoder("context").named_parameters()), dict(target.named_parameters())
    moved = behind = 0.0
    for name, weight in context.named_parameters():
        moved += float((weight - init[name]).square().sum())
        behind += float((trailing[name] - weight).square().sum())
    return (behind / moved) ** 0.5 if moved > 0 else None


def with_eval_settings(cfg: RunConfig, settings: list[str]) -> RunConfig:
    """``cfg`` with ``eval.KEY=VALUE`` settings applied (validated like a recipe's); other keys are refused."""
    update = parse_overrides(settings)
    if set(update) - {"eval"}:
        raise ConfigError(f"openjepa eval takes eval.* settings only (the run is trained already), got "
                          f"{', '.join(s for s in settings if not s.startswith('eval.'))}")
    return build_config(config_dict(cfg), update)


def run_tasks(cfg: RunConfig) -> list[EvalTask]:
    """The run's evaluation tasks: ``eval.tasks``, or its modality's followed by its method's."""
    names = cfg.eval.tasks
    if names is None:
        names = [*MODALITIES.get(cfg.data.modality).eval_tasks, *METHODS.get(cfg.method.name).eval_tasks]
    if not names:
        raise ConfigError(f"this run has no evaluation task: list some in eval.tasks ({', '.join(EVAL_TASKS.names())})")
    return [EVAL_TASKS.get(name)() for name in names]


def evaluate_run(run_dir: str | Path, data_path: str | None = None, *, device: str = "auto",
                 encoder: str | None = None, out: str | Path | None = None, settings: list[str] = (),
                 dataset: Any = None) -> Evaluation:
    """Run the run's evaluation tasks; writes and returns ``eval.json``'s contents with the report table.

    ``data_path``: evaluate on this dataset instead of the run's (read at the run's input spec). ``encoder``
    (``target``/``context``) overrides the run's ``eval.encoder``; ``settings``, ``eval.KEY=VALUE`` strings,
    override the run's other evaluation settings; ``out`` names another file than ``RUN/eval.json``, and then
    ``RUN/report.md`` is left as it is. ``dataset``: both splits, already read by the run's modality, instead of
    reading ``data_path`` or the run's dataset again.
    """
    run_dir = Path(run_dir)
    device = pick_device(device)
    started = time.perf_counter()
    cfg, trained = load_trained_method(run_dir, device)
    if settings:
        cfg = with_eval_settings(cfg, list(settings))
    if encoder is not None:
        cfg.eval.encoder = encoder
    tasks = run_tasks(cfg)
    data_cfg = cfg.data if data_path is None else replace(cfg.data, dataset=data_path)
    data = dataset if dataset is not None else load_data(data_cfg, spec=cfg.spec)
    if data.channels != cfg.spec.channels:
        raise DataError(f"{data.name} has {data.channels}-channel inputs but the run was trained on "
                        f"{cfg.spec.channels}")
    random_init = random_init_method(cfg, device)
    lag = target_lag(trained, random_init)
    if cfg.eval.encoder == "target" and lag is not None and lag > 0.5:
        log.warning("the target encoder is still %.2f of the way back from the context encoder to its random init "
                    "(the EMA has not caught up in this run's steps); eval.encoder=context (openjepa eval "
                    "--encoder context) probes the encoder the loss trained", lag)
    ctx = EvalContext(cfg, run_dir, trained, random_init, data, device)
    evaluated = {"data": data.name if data_path is None else str(data_path), "encoder": cfg.eval.encoder,
                 "settings": sorted(settings)}
    json_path, primary = evaluation_path(run_dir, out, evaluated, default_data=data_path is None)
    results: dict = {}
    meta: dict = {"encoder": cfg.eval.encoder, "target_lag": lag}
    for task in tasks:
        found = task.run(ctx)
        meta.update(found.pop("meta", {}))
        results.update(found)
    results["meta"] = {**meta, "evaluated": evaluated, "seconds": round(time.perf_counter() - started, 1)}
    table = "\n\n".join(task.table(results) for task in tasks)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(json_path, results)
    for name, (tensors, metadata) in ctx.artifacts.items():
        save_safetensors_atomic(artifact_path(json_path, name), tensors, metadata)
    if not primary and out is None:
        log.info("RUN/eval.json holds an evaluation with other data or settings; this one went to %s", json_path)
    if primary:
        for task in tasks:
            task.pictures(ctx)
        write_report(run_dir, table, sorted((run_dir / "plots").glob("*.png")), results=results)
    return Evaluation(results, table)


def artifact_path(json_path: Path, name: str) -> Path:
    """Where an evaluation written to ``json_path`` keeps its artifact ``name``: ``eval.json`` ->
    ``eval.probe.safetensors``."""
    return json_path.with_name(f"{json_path.stem}.{name}.safetensors")


def evaluation_path(run_dir: Path, out: str | Path | None, evaluated: dict, *, default_data: bool
                    ) -> tuple[Path, bool]:
    """Where to write an evaluation, and whether it is the run's own (``RUN/eval.json`` with the report).

    An evaluation never replaces one of other data or settings: ``out`` must be new or hold the same evaluation;
    without ``out``, one on other data or settings than ``RUN/eval.json``'s goes to ``RUN/evals/<data>-<hash>.json``.
    """
    if out is not None:
        out = Path(out)
        if out.is_dir():
            raise ConfigError(f"--out {out} is a folder; give a .json file name")
        if out.exists() and evaluated_as(out) != evaluated:
            raise ConfigError(f"--out {out} exists and is not an evaluation of this run with these settings; "
                              f"give another --out (nothing was overwritten)")
        return out, False
    own = run_dir / "eval.json"
    previous = evaluated_as(own) if own.exists() else evaluated
    if previous == evaluated or (previous is None and default_data):
        return own, True
    digest = hashlib.sha256(json.dumps(evaluated, sort_keys=True).encode()).hexdigest()[:8]
    path = run_dir / "evals" / f"{Path(evaluated['data']).name}-{digest}.json"
    return path, False


def evaluated_as(path: Path) -> dict | None:
    """What an ``eval.json`` says it evaluated (``meta.evaluated``); None for one of an earlier version or
    a file that is not an evaluation."""
    try:
        return json.loads(path.read_text()).get("meta", {}).get("evaluated")
    except (OSError, ValueError, AttributeError):
        return None
