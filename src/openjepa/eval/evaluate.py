"""Evaluate a run: linear, kNN and low-shot probes of the trained encoder, the same
architecture at its random initialisation, and raw pixels, all in one run -> ``RUN/eval.json``."""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from openjepa.config import ConfigError, parse_overrides
from openjepa.data.folder import DataError
from openjepa.data.images import ImageData
from openjepa.data.resolve import load_data
from openjepa.eval.features import encoder_features, raw_features
from openjepa.eval.probes import knn_probe, linear_probe, lowshot_probe
from openjepa.eval.report import results_table, write_report
from openjepa.eval.video import evaluate_clips
from openjepa.methods.base import Method
from openjepa.objectives.diagnostics import rankme
from openjepa.runconfig import RunConfig, build_config, build_method, config_dict
from openjepa.train.checkpoint import latest_checkpoint, load_checkpoint
from openjepa.train.distributed import pick_device
from openjepa.train.trainer import TrainingError, load_run_config
from openjepa.viz.pca import save_pca_figure

if TYPE_CHECKING:
    from openjepa.data.sprites import VideoData
    from openjepa.world.data import TrajectoryData

log = logging.getLogger("openjepa")


def load_trained_method(run_dir: str | Path, device: torch.device | str = "cpu") -> tuple[RunConfig, Method]:
    """The run's config and its method with the latest checkpoint's weights."""
    cfg = load_run_config(Path(run_dir))
    folder = latest_checkpoint(Path(run_dir))
    if folder is None:
        raise TrainingError(f"{run_dir} has no checkpoint yet; train it first")
    method = build_method(cfg)
    method.load_state_dict(load_checkpoint(folder, with_optimizer=False)[0])
    return cfg, method.to(device).eval()


def random_init_method(cfg: RunConfig, device: torch.device | str = "cpu") -> Method:
    """The method exactly as the run's training started (same seed, same initial weights)."""
    torch.manual_seed(cfg.train.seed)
    return build_method(cfg).to(device).eval()


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


def _warn_if_target_lags(cfg: RunConfig, lag: float | None) -> None:
    ema = getattr(getattr(cfg.method, "target", None), "mode", None) == "ema"
    if ema and cfg.eval.encoder == "target" and lag is not None and lag > 0.5:
        log.warning("the target encoder is still %.2f of the way back from the context encoder to its random init "
                    "(the EMA has not caught up in this run's steps); eval.encoder=context (openjepa eval "
                    "--encoder context) probes the encoder the loss trained", lag)


def run_data(cfg: RunConfig, data_path: str | None) -> ImageData | VideoData | TrajectoryData:
    """The run's dataset, or ``data_path`` brought to the run's image size and clip length; channels must match."""
    data_cfg = cfg.data if data_path is None else replace(cfg.data, dataset=data_path)
    data = load_data(replace(data_cfg, image_size=cfg.data.image_size, frames=cfg.data.frames))
    if data.channels != cfg.channels:
        raise DataError(f"{data.name} has {data.channels}-channel inputs but the run was trained on {cfg.channels}")
    return data


def evaluation_data(cfg: RunConfig, data_path: str | None) -> ImageData | VideoData | TrajectoryData:
    """:func:`run_data` with the labelled test split that evaluation needs."""
    data = run_data(cfg, data_path)
    if cfg.data.frames is not None:  # clips or trajectory windows
        if not len(data.test):
            raise DataError(f"{data.name}: evaluation needs a labelled test split")
        return data
    if not (data.train.labeled and data.test.labeled and len(data.test)):
        raise DataError(f"{data.name}: evaluation needs labelled train and test images (class folders)")
    return data


def probe_all(train_x: torch.Tensor, train_y: torch.Tensor, test_x: torch.Tensor, test_y: torch.Tensor,
              cfg: RunConfig) -> dict[str, float]:
    """Linear, kNN and low-shot accuracy of one feature set."""
    ev = cfg.eval
    return {
        "linear": linear_probe(train_x, train_y, test_x, test_y)["accuracy"],
        "knn": knn_probe(train_x, train_y, test_x, test_y, k=ev.knn_k, temperature=ev.knn_temperature),
        "lowshot": lowshot_probe(train_x, train_y, test_x, test_y, per_class=ev.lowshot_per_class,
                                 repeats=ev.lowshot_repeats),
    }


# eval settings that image runs must leave at these
VIDEO_ONLY_EVAL = {"tokens": "clip", "probe_flips": "none", "probe_seeds": 1, "attentive_warmups": []}


def with_eval_settings(cfg: RunConfig, settings: list[str]) -> RunConfig:
    """``cfg`` with ``eval.KEY=VALUE`` settings applied (validated like a recipe's); other keys are refused."""
    update = parse_overrides(settings)
    if set(update) - {"eval"}:
        raise ConfigError(f"openjepa eval takes eval.* settings only (the run is trained already), got "
                          f"{', '.join(s for s in settings if not s.startswith('eval.'))}")
    return build_config(config_dict(cfg), update)


def evaluate_run(run_dir: str | Path, data_path: str | None = None, *, device: str = "auto",
                 encoder: str | None = None, out: str | Path | None = None, settings: list[str] = ()) -> dict:
    """Probe the run's encoder against random init and raw pixels; writes and returns ``eval.json``.

    ``encoder`` (``target``/``context``) overrides the run's ``eval.encoder``; ``settings``, ``eval.KEY=VALUE``
    strings, override the run's other evaluation settings; ``out`` names another file than ``RUN/eval.json``,
    and then ``RUN/report.md`` is left as it is.
    """
    run_dir = Path(run_dir)
    device = pick_device(device)
    started = time.perf_counter()
    cfg, trained = load_trained_method(run_dir, device)
    if settings:
        cfg = with_eval_settings(cfg, list(settings))
    if encoder is not None:
        cfg.eval.encoder = encoder
    data = evaluation_data(cfg, data_path)
    random_method = random_init_method(cfg, device)
    if cfg.method.name == "lewm":
        from openjepa.world.evaluate import evaluate_world

        results = evaluate_world(trained, random_method, data)
        return _write_results(run_dir, results, out, results_table(results), list((run_dir / "plots").glob("*.png")))
    lag = target_lag(trained, random_method)
    _warn_if_target_lags(cfg, lag)
    if cfg.data.frames is not None:
        results = evaluate_clips(cfg, trained, random_method, data, device=device)
        results["meta"].update(target_lag=lag, seconds=round(time.perf_counter() - started, 1))
        return _write_results(run_dir, results, out, results_table(results),
                              [p for p in (run_dir / "plots").glob("*.png")])
    video_only = [f"eval.{key}={getattr(cfg.eval, key)}" for key, default in VIDEO_ONLY_EVAL.items()
                  if getattr(cfg.eval, key) != default]
    if video_only:
        raise ConfigError(f"{', '.join(video_only)}: settings of video evaluation, and this run is not a video run "
                          f"(data.frames is not set)")
    train, test = data.train, data.test
    if cfg.eval.max_train and len(train) > cfg.eval.max_train:
        train = train.subset(torch.randperm(len(train), generator=torch.Generator().manual_seed(0))[: cfg.eval.max_train])
    bf16 = cfg.train.precision == "bf16"
    feature_sets = {}
    for name, method in (("trained", trained), ("random_init", random_method)):
        encoder = method.eval_encoder(cfg.eval.encoder)
        feature_sets[name] = [encoder_features(encoder, method.normalize, s.images, batch_size=cfg.eval.batch_size,
                                               device=device, bf16=bf16) for s in (train, test)]
    feature_sets["raw_input"] = [raw_features(s.images) for s in (train, test)]
    results: dict = {"linear": {}, "knn": {}, "lowshot": {}, "rankme": {}}
    for name, (train_x, test_x) in feature_sets.items():
        scores = probe_all(train_x, train.labels, test_x, test.labels, cfg)
        for probe, value in scores.items():
            results[probe][name] = value
        results["rankme"][name] = float(rankme(test_x[:2048]))
        log.info("%-11s linear %.3f  knn %.3f  lowshot %.3f", name, scores["linear"], scores["knn"], scores["lowshot"])
    pictures = [p for p in (run_dir / "plots").glob("*.png") if p.stem != "pca"]
    pictures.append(_pca_picture(run_dir, cfg, test, trained, random_method, device))
    results["meta"] = {
        "dataset": data.name, "train_images": len(train), "test_images": len(test), "classes": len(train.classes),
        "encoder": cfg.eval.encoder, "target_lag": lag, "features": "mean-pooled final-layer tokens, standardised",
        "seconds": round(time.perf_counter() - started, 1),
    }
    return _write_results(run_dir, results, out, results_table(results), pictures)


def _write_results(run_dir: Path, results: dict, out: str | Path | None, table: str, pictures: list[Path]) -> dict:
    """``out`` alone if given; else ``RUN/eval.json`` and ``RUN/report.md``."""
    if out:
        write_json_atomic(Path(out), results)
    else:
        write_json_atomic(run_dir / "eval.json", results)
        write_report(run_dir, table, sorted(pictures))
    return results


def _pca_picture(run_dir: Path, cfg: RunConfig, test, trained: Method, random_method: Method, device) -> Path:
    """``plots/pca.png``: one test image per class, then PCA maps of trained and random-init patch features."""
    picks = [int((test.labels == c).nonzero()[0]) for c in range(len(test.classes)) if (test.labels == c).any()][:10]
    images = test.images[picks]
    rows = {name: encoder_features(m.eval_encoder(cfg.eval.encoder), m.normalize, images, pool=False, device=device)
            for name, m in (("trained", trained), ("random_init", random_method))}
    return save_pca_figure(images, rows, trained.eval_encoder(cfg.eval.encoder).grid, run_dir / "plots" / "pca.png")


def write_json_atomic(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)
