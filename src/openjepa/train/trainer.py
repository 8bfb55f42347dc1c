"""The one training loop, for every method.

``fit(config, run_dir)`` trains a fresh run; ``fit(None, run_dir, resume=True)``
continues one from its latest checkpoint and produces the same numbers it would
have produced without the stop (schedules, masks, augmentations and SIGReg
directions are all functions of the step or sample index).
"""

from __future__ import annotations

import contextlib
import logging
import math
import signal
import time
from pathlib import Path

import torch
import torch.distributed as dist
import yaml
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from openjepa.data.images import ImageData
from openjepa.data.sprites import VideoData
from openjepa.data.loader import TrainBatches
from openjepa.data.resolve import load_data
from openjepa.methods import WORLD_MODELS
from openjepa.runconfig import RunConfig, build_config, build_method, config_dict
from openjepa.train.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from openjepa.train.distributed import DistInfo, broadcast_object, init_distributed, shutdown
from openjepa.train.metrics import MetricsWriter, truncate_metrics
from openjepa.train.optim import build_optimizer, set_hyperparameters
from openjepa.train.schedules import learning_rate, weight_decay
from openjepa.world.data import TrajectoryData, is_trajectory_store

log = logging.getLogger("openjepa")
CALIBRATION_STEPS = 8
REFIT_AT = (0.25, 0.5)  # fractions of a time budget at which the schedule length is fitted again


class TimeBudget:
    """Fits the schedule length to a time budget.

    After a couple of warm-up steps it times ``CALIBRATION_STEPS`` steps and sets
    the total; when a quarter and half of the budget have passed it fits the
    total again to the mean step time so far (machines get busier or quieter).
    A hard stop at the deadline stays in force regardless.
    """

    def __init__(self, seconds: float, start_step: int):
        self.seconds = seconds
        self.start_step = start_step
        self.t0: float | None = None
        self.step0 = 0
        self.refits = list(REFIT_AT)

    def observe(self, done: int, elapsed: float, now: float) -> int | None:
        """A new schedule length, or None; ``elapsed`` counts the whole budget so far."""
        if done == self.start_step + 2:
            self.t0, self.step0 = now, done
            return None
        if self.t0 is None or done < self.step0 + CALIBRATION_STEPS:
            return None
        first = done == self.step0 + CALIBRATION_STEPS
        if not first and not (self.refits and elapsed >= self.refits[0] * self.seconds):
            return None
        if not first:
            self.refits.pop(0)
        per_step = (now - self.t0) / (done - self.step0)
        return done + max(0, int(0.98 * (self.seconds - elapsed) / per_step))


class TrainingError(RuntimeError):
    """Training cannot go on (non-finite loss, a run folder in the way, ...)."""


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C / SIGTERM stopped training after a checkpoint was written; ``--resume`` continues it."""


def fill_data_facts(cfg: RunConfig, data: ImageData | VideoData | TrajectoryData) -> RunConfig:
    """Record the dataset's image (frame) size, clip length, channels, normalisation (and a world model's
    action size) in the config."""
    if data.image_size[0] != data.image_size[1]:
        raise TrainingError(f"{data.name}: images are {data.image_size[1]}x{data.image_size[0]}; "
                            f"set data.image_size=N to train on NxN crops")
    video = isinstance(data, VideoData)
    if isinstance(data, TrajectoryData):
        if cfg.method.name not in WORLD_MODELS or (cfg.method.name == "lewm" and cfg.encoder.tubelet is not None):
            raise TrainingError(f"{data.name} is a trajectory store; train it with a world-model recipe "
                                f"(lewm_tworoom_tiny, whose encoder reads single frames, or vjepa2ac_tworoom_tiny)")
        cfg.method.action_dim = data.action_dim
        if hasattr(cfg.method, "state_dim"):
            cfg.method.state_dim = data.store.state_dim
    elif video != (cfg.encoder.tubelet is not None):
        raise TrainingError(f"{data.name} holds {'clips' if video else 'images'} but the encoder reads "
                            f"{'clips (encoder.tubelet is set)' if cfg.encoder.tubelet else 'images'}; "
                            f"set data.frames and encoder.tubelet together (see the vjepa recipes)")
    cfg.data.image_size = data.image_size[0]
    cfg.data.frames = data.frames if video or isinstance(data, TrajectoryData) else None
    cfg.channels = data.channels
    if cfg.data.mean is None or cfg.data.std is None:
        cfg.data.mean, cfg.data.std = data.channel_stats()
    return cfg


def adopt_frozen_encoder(cfg: RunConfig, data: TrajectoryData) -> dict[str, torch.Tensor]:
    """For a method on a frozen encoder from another run (``method.encoder_run``): copy that run's encoder shape
    and input normalisation (a video encoder's clip length too) into ``cfg``; returns its eval encoder's weights."""
    from openjepa.eval.evaluate import load_trained_method

    source = cfg.method.encoder_run
    if not source:
        raise TrainingError(f"{cfg.method.name} trains a predictor on a frozen encoder from another run: pass "
                            f"--encoder RUN (e.g. a lewm_tworoom_tiny or I-JEPA run on images of the store's size)")
    if not Path(source).expanduser().is_dir():
        raise TrainingError(f"--encoder {source}: no such run folder")
    source_cfg, source_method = load_trained_method(Path(source).expanduser())
    encoder = source_method.eval_encoder(source_cfg.eval.encoder)
    size = source_cfg.data.image_size
    if (source_cfg.channels, (size, size)) != (data.channels, data.image_size):
        raise TrainingError(f"--encoder {source} reads {source_cfg.channels}-channel {size}x{size} images but "
                            f"{data.name} holds {data.channels}-channel {data.image_size[1]}x{data.image_size[0]} "
                            f"frames; pick an encoder trained at the store's frame size")
    cfg.encoder = source_cfg.encoder
    cfg.method.encoder_frames = None if encoder.config.tubelet is None else encoder.input_size[0]
    cfg.data.mean, cfg.data.std = source_cfg.data.mean, source_cfg.data.std
    return encoder.state_dict()


def load_run_config(run_dir: Path) -> RunConfig:
    path = Path(run_dir) / "config.yaml"
    if not path.is_file():
        raise TrainingError(f"{run_dir} is not an openjepa run: {path.name} is missing")
    return build_config(yaml.safe_load(path.read_text()))


def _autocast(cfg: RunConfig, device: torch.device):
    if cfg.train.precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _to_device(batch: dict, device: torch.device) -> dict:
    return {k: v.to(device, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()}


class _StopRequest:
    """Turns the first Ctrl-C / SIGTERM into a request to checkpoint and stop after the current step."""

    def __init__(self):
        self.requested = False
        self._old = {}

    def __enter__(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(ValueError):  # not the main thread
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        log.warning("stop requested: finishing this step and writing a checkpoint (again to abort)")

    def __exit__(self, *exc):
        for sig, handler in self._old.items():
            signal.signal(sig, handler)


def _reduce_step(out, flags: list[bool], info: DistInfo) -> tuple[dict[str, float], list[bool]]:
    """Loss and logs averaged over ranks (one all-reduce per step), and any-rank OR of ``flags``."""
    names = ["loss", *out.logs]
    values = torch.stack([out.loss.detach().float(), *[v.detach().float() for v in out.logs.values()]])
    packed = torch.cat([values, torch.tensor([float(f) for f in flags], device=values.device)])
    if info.world_size > 1:
        dist.all_reduce(packed)
        packed[: len(names)] /= info.world_size
    numbers = packed.tolist()
    return dict(zip(names, numbers[: len(names)])), [v > 0 for v in numbers[len(names):]]


def _prepare_run_dir(run_dir: Path, resume: bool) -> None:
    if resume:
        return
    if (run_dir / "config.yaml").exists() or (run_dir / "checkpoints").exists():
        raise TrainingError(f"{run_dir} already holds a run; continue it with --resume {run_dir} "
                            f"or pick another --out (nothing was overwritten)")
    run_dir.mkdir(parents=True, exist_ok=True)


def fit(cfg: RunConfig | None, run_dir: str | Path, *, resume: bool = False, progress: bool = True,
        data: ImageData | None = None) -> Path:
    """Train ``cfg`` into ``run_dir`` (or resume the run there); returns ``run_dir``."""
    run_dir = Path(run_dir)
    if resume:
        saved = load_run_config(run_dir)
        # a stop point belongs to one invocation, not to the run; the time budget may be changed on resume
        saved.train.stop_at = cfg.train.stop_at if cfg is not None else None
        if cfg is not None:
            saved.train.minutes = cfg.train.minutes
        cfg = saved
    info = init_distributed(cfg.train.device)
    try:
        if info.is_main:
            _prepare_run_dir(run_dir, resume)
        _fit(cfg, run_dir, resume, progress, info, data)
    except BaseException:
        shutdown(clean=False)
        raise
    shutdown(clean=True)
    return run_dir


def _fit(cfg: RunConfig, run_dir: Path, resume: bool, progress: bool, info: DistInfo, data: ImageData | None) -> None:
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    if data is None and cfg.method.name in WORLD_MODELS and not is_trajectory_store(Path(cfg.data.dataset).expanduser()):
        raise TrainingError(f"the {cfg.method.name} recipes train on trajectories, but '{cfg.data.dataset}' is not a "
                            f"trajectory store; record one with `openjepa collect tworoom --out PATH` and pass --data PATH")
    data = data if data is not None else load_data(cfg.data)
    frozen_encoder = adopt_frozen_encoder(cfg, data) if hasattr(cfg.method, "encoder_run") and not resume else None
    fill_data_facts(cfg, data)
    if info.is_main and not resume:
        (run_dir / "config.yaml").write_text(yaml.safe_dump(config_dict(cfg), sort_keys=False))

    torch.manual_seed(cfg.train.seed)
    method = build_method(cfg)
    if frozen_encoder is not None:
        method.encoder.load_state_dict(frozen_encoder)
    method = method.to(info.device)
    optimizer = build_optimizer(method, cfg.optim)
    state = {"step": 0, "total_steps": cfg.train.steps, "elapsed": 0.0}
    if resume:
        folder = latest_checkpoint(run_dir)
        if folder is None:
            raise TrainingError(f"{run_dir} has no checkpoint to resume from; start it again without --resume")
        model_state, optim_state, state = load_checkpoint(folder)
        method.load_state_dict(model_state)
        optimizer.load_state_dict(optim_state)
        log.info("resuming %s from step %d of %d", run_dir, state["step"], state["total_steps"])
    model = DistributedDataParallel(method) if info.world_size > 1 else method
    params = [p for p in method.parameters() if p.requires_grad]

    metrics_path = run_dir / "metrics.jsonl"
    writer = None
    if info.is_main:
        truncate_metrics(metrics_path, state["step"])
        writer = MetricsWriter(metrics_path)
    batches = TrainBatches(data.train, cfg.train.batch_size, cfg.train.seed, extras=method.sample_extras(),
                           rank=info.rank, world=info.world_size, num_workers=cfg.train.num_workers)
    total = state["total_steps"]
    stop_at = min(cfg.train.stop_at or total, total)
    budget = cfg.train.minutes * 60 if cfg.train.minutes else math.inf
    bar = tqdm(total=total, initial=state["step"], disable=not (progress and info.is_main), dynamic_ncols=True,
               desc=run_dir.name, unit="step")
    last_saved = state["step"]
    session_start = time.perf_counter()
    elapsed_before = state["elapsed"]
    fitter = TimeBudget(budget, state["step"]) if cfg.train.minutes and not resume else None
    last_warning = -10**9

    def checkpoint(step: int) -> None:
        nonlocal last_saved
        state.update(step=step, total_steps=total, elapsed=elapsed_before + time.perf_counter() - session_start)
        if info.is_main:
            save_checkpoint(run_dir, step, method.state_dict(), optimizer.state_dict(), dict(state),
                            keep=cfg.train.keep_checkpoints)
        last_saved = step

    method.train()
    stop_reason = "done"
    done = state["step"]
    with _StopRequest() as stop:
        for batch in batches.iterate(state["step"], stop_at if fitter is None else 10**12):
            step = batch["step"]  # index of this update; `done` updates after it
            lr, wd = learning_rate(step, total, cfg.optim), weight_decay(step, total, cfg.optim)
            set_hyperparameters(optimizer, lr, wd)
            t0 = time.perf_counter()
            batch = _to_device(batch, info.device)
            with _autocast(cfg, info.device):
                out = model(batch)
            elapsed = elapsed_before + time.perf_counter() - session_start
            logs, (stop_now, out_of_time) = _reduce_step(out, [stop.requested, elapsed >= budget], info)
            if not math.isfinite(logs["loss"]):
                parts = ", ".join(f"{k}={v:.4g}" for k, v in logs.items())
                where = f"step {last_saved} in {run_dir / 'checkpoints'}" if last_saved else "none written yet"
                raise TrainingError(f"non-finite loss at step {step + 1} [{parts}]; stopped "
                                    f"without saving. Last checkpoint: {where}, intact. Try a lower optim.lr, "
                                    f"optim.clip_grad, or train.precision=fp32")
            optimizer.zero_grad(set_to_none=True)
            out.loss.backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(params, cfg.optim.clip_grad) if cfg.optim.clip_grad else None
            optimizer.step()
            done = step + 1
            extra = method.after_step(done, total)
            step_time = time.perf_counter() - t0

            if fitter is not None:
                now = time.perf_counter()
                fitted = fitter.observe(done, elapsed_before + now - session_start, now)
                if fitted is not None:
                    total = broadcast_object(fitted, info)
                    stop_at = min(cfg.train.stop_at or total, total)
                    bar.total = total
                    bar.refresh()
                    log.info("time budget %.1f min: schedule fitted to %d steps", budget / 60, total)

            bar.update(1)
            if info.is_main and (done % cfg.train.log_every == 0 or done == stop_at):
                record = {"step": done, **logs, "lr": lr, "wd": wd, **extra,
                          "grad_norm": None if grad_norm is None else float(grad_norm),
                          "images_per_s": cfg.train.batch_size / step_time,
                          "time": elapsed_before + time.perf_counter() - session_start}
                writer.write(record)
                bar.set_postfix(loss=f"{record['loss']:.4f}", img_s=f"{record['images_per_s']:.0f}", refresh=False)
                last_warning = _collapse_warning(record, cfg, method, done, last_warning)
            if done % cfg.train.checkpoint_every == 0:
                checkpoint(done)
            if stop_now or out_of_time:
                stop_reason = "interrupted" if stop_now else "time budget reached"
                break
            if done >= stop_at:
                stop_reason = "done" if done >= total else "paused at train.stop_at"
                break
    bar.close()
    if last_saved != done:
        checkpoint(done)
    if writer is not None:
        writer.close()
    if info.is_main:
        from openjepa.viz.curves import plot_training_curves

        plot_training_curves(metrics_path, run_dir / "plots")
    if stop_reason == "interrupted":
        raise TrainingInterrupted(f"stopped at step {done} of {total} with a checkpoint; "
                                  f"continue with: openjepa train --resume {run_dir}")
    if done < total:
        log.warning("%s at step %d of %d; continue with: openjepa train --resume %s", stop_reason, done, total, run_dir)


def _collapse_warning(record: dict, cfg: RunConfig, method: torch.nn.Module, done: int, last: int) -> int:
    """Warn (at most every 100 steps, after warmup) when token std or effective rank fall to collapse levels."""
    if done < cfg.optim.warmup_steps or done - last < 100:
        return last
    width = method.eval_encoder().width
    rank_floor = cfg.train.collapse_rank_fraction * min(cfg.train.batch_size, width)
    std, rank = record.get("token_std"), record.get("rankme")
    if (std is not None and std < cfg.train.collapse_token_std) or (rank is not None and rank < rank_floor):
        log.warning("representations look collapsed at step %d: token std %.4f (warn < %.3g), RankMe %.1f "
                    "(warn < %.1f)", done, std or float("nan"), cfg.train.collapse_token_std, rank or float("nan"), rank_floor)
        return done
    return last
