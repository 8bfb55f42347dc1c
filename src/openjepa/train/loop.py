"""The one training loop, for every method.

``fit(config, run_dir)`` trains a fresh run; ``fit(None, run_dir, resume=True)`` continues one from its latest
checkpoint and produces the same numbers it would have produced without the stop (schedules, masks, augmentations
and SIGReg directions are all functions of the step or sample index). A run is prepared by :mod:`openjepa.runs`
(data, spec, weights from another run); :class:`TrainStep` is one optimizer step of any method; the callbacks of
:mod:`openjepa.train.callbacks` log, checkpoint, fit the schedule to a time budget, watch for collapse and draw.
"""

from __future__ import annotations

import contextlib
import logging
import math
import signal
import time
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from tqdm.contrib.logging import logging_redirect_tqdm

from openjepa.core.config import absolute_if_exists
from openjepa.core.device import native_bf16, uses_bf16
from openjepa.core.errors import ConfigError, TrainingError, WorkFailed
from openjepa.core.protocols import Batch, Method
from openjepa.data.loader import TrainBatches
from openjepa.modalities.registry import MODALITIES
from openjepa.optim.adamw import build_optimizer, set_hyperparameters
from openjepa.optim.schedules import learning_rate, weight_decay
from openjepa.runs.build import build_method
from openjepa.runs.checkpoint import latest_checkpoint, load_checkpoint
from openjepa.runs.config import RunConfig
from openjepa.runs.files import check_new_run_dir, load_run_config, write_run_config
from openjepa.runs.fingerprint import check_data_unchanged, record_data
from openjepa.runs.prepare import prepare_run
from openjepa.train.callback import LoopState, Position
from openjepa.train.callbacks import default_callbacks
from openjepa.train.distributed import DistInfo, init_distributed, shutdown
from openjepa.train.parallel import load_full_state_dicts, prepare_blocks
from openjepa.train.tensorboard import summary_writer_class

log = logging.getLogger("openjepa")


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C / SIGTERM stopped training after a checkpoint was written; ``--resume`` continues it."""


class NonFiniteLoss(ArithmeticError):
    """A step's loss is NaN or infinite."""


class TrainStep:
    """One optimizer step of a method on a batch: learning rate and weight decay from the schedule, forward under
    the run's precision, loss and logs averaged over ranks (with any-rank flags), a non-finite loss refused,
    backward, gradient clipping, the update, then the method's own ``after_step`` (EMA). Under torchrun the method
    runs in DistributedDataParallel, or as it is with ``train.sharding=fsdp`` (sharded by
    :func:`~openjepa.train.parallel.prepare_blocks`)."""

    def __init__(self, cfg: RunConfig, method: Method, optimizer: torch.optim.Optimizer, info: DistInfo):
        self.cfg, self.method, self.optimizer, self.info = cfg, method, optimizer, info
        ddp = info.world_size > 1 and cfg.train.sharding == "ddp"
        self.model = DistributedDataParallel(method) if ddp else method
        self.params = [p for p in method.parameters() if p.requires_grad]
        self.bf16 = uses_bf16(cfg.train.precision, info.device)
        if self.bf16 and not native_bf16(info.device):
            log.warning("train.precision=bf16 on a %s without native bf16: its matmuls are emulated, far slower than "
                        "fp32 (train.precision=auto picks fp32 here)", info.device.type.upper())

    def __call__(self, batch: Batch, total: int, flags: list[bool]) -> tuple[dict[str, Any], list[bool]]:
        """The step's record (loss and its parts, lr, wd, the method's logs, gradient norm) and the flags OR-ed
        over ranks."""
        cfg, step = self.cfg, batch["step"]
        lr, wd = learning_rate(step, total, cfg.optim), weight_decay(step, total, cfg.optim)
        set_hyperparameters(self.optimizer, lr, wd)
        batch = {k: v.to(self.info.device, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()}
        with torch.autocast(self.info.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            out = self.model(batch)
        logs, flags = _reduce(out, flags, self.info)
        if not math.isfinite(logs["loss"]):
            parts = ", ".join(f"{k}={v:.4g}" for k, v in logs.items())
            raise NonFiniteLoss(f"non-finite loss at step {step + 1} [{parts}]")
        self.optimizer.zero_grad(set_to_none=True)
        out.loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(self.params, cfg.optim.clip_grad) if cfg.optim.clip_grad else None
        self.optimizer.step()
        extra = self.method.after_step(step + 1, total)
        return {"step": step + 1, **logs, "lr": lr, "wd": wd, **extra,
                "grad_norm": None if grad_norm is None else float(grad_norm)}, flags


def _reduce(out, flags: list[bool], info: DistInfo) -> tuple[dict[str, float], list[bool]]:
    """Loss and logs averaged over ranks (one all-reduce per step), and any-rank OR of ``flags``."""
    names = ["loss", *out.logs]
    values = torch.stack([out.loss.detach().float(), *[v.detach().float() for v in out.logs.values()]])
    packed = torch.cat([values, torch.tensor([float(f) for f in flags], device=values.device)])
    if info.world_size > 1:
        dist.all_reduce(packed)
        packed[: len(names)] /= info.world_size
    numbers = packed.tolist()
    return dict(zip(names, numbers[: len(names)])), [v > 0 for v in numbers[len(names):]]


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


def fit(cfg: RunConfig | None, run_dir: str | Path, *, resume: bool = False, progress: bool = True,
        data: Any = None, allow_data_change: bool = False) -> Path:
    """Train ``cfg`` into ``run_dir`` (or resume the run there; ``cfg`` may then change ``train.minutes`` and
    ``train.stop_at``); ``data``: the run's dataset when the caller holds it already. A resume on data other than
    the run started on (``RUN/data.json``) stops, unless ``allow_data_change``. Returns ``run_dir``."""
    run_dir = Path(run_dir)
    if resume:
        saved = load_run_config(run_dir)
        if check_data_unchanged(run_dir, saved.data.dataset, allow_change=allow_data_change) is not None:
            log.warning("the data changed since the run started; going on as --allow-data-change asks")
            record_data(run_dir, saved.data.dataset)
        # a stop point belongs to one invocation, not to the run; the time budget may be changed on resume
        saved.train.stop_at = cfg.train.stop_at if cfg is not None else None
        if cfg is not None:
            saved.train.minutes = cfg.train.minutes
        cfg = saved
    else:
        absolute_paths(cfg)
    if cfg.train.tensorboard:
        summary_writer_class()  # a missing extra stops the run before anything is written
    info = init_distributed(cfg.train.device)
    try:
        if info.is_main and not resume and check_new_run_dir(run_dir):
            log.warning("%s holds a run that never reached a checkpoint (a failed or killed start); starting it "
                        "again", run_dir)
        _train(cfg, run_dir, resume, progress, info, data)
    except BaseException:
        shutdown(clean=False)
        raise
    shutdown(clean=True)
    return run_dir


def absolute_paths(cfg: RunConfig) -> None:
    """Paths the run reads (its data, the run it starts from) made absolute, so that the run folder works from any
    directory."""
    for section, key in ((cfg.data, "dataset"), (cfg.init, "run")):
        setattr(section, key, absolute_if_exists(getattr(section, key)))


def _train(cfg: RunConfig, run_dir: Path, resume: bool, progress: bool, info: DistInfo, data: Any) -> None:
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    data, init = prepare_run(cfg, data, resume=resume)
    torch.manual_seed(cfg.train.seed)
    method = build_method(cfg)
    if init is not None:
        init(method)
    freeze_all_but(method, cfg.train.trainable)
    method = method.to(info.device)
    prepare_blocks(method, cfg.train, info)
    optimizer = build_optimizer(method, cfg.optim)
    position = Position(0, cfg.train.steps)
    if resume:
        position = _restore(run_dir, method, optimizer)
    elif info.is_main:  # the run starts on disk only now that its data and parts are ready
        run_dir.mkdir(parents=True, exist_ok=True)
        write_run_config(run_dir, cfg)
        record_data(run_dir, cfg.data.dataset)
    batches = TrainBatches(data.train, cfg.train.batch_size, cfg.train.seed, extras=method.sample_extras(),
                           rank=info.rank, world=info.world_size, num_workers=cfg.train.num_workers,
                           prepare=MODALITIES.get(cfg.data.modality)().prepare)
    run_loop(cfg, run_dir, TrainStep(cfg, method, optimizer, info), batches, position, resume, progress)


def freeze_all_but(method: Method, trainable: list[str]) -> None:
    """Stop gradients to every top-level part of ``method`` not named in ``trainable`` (empty: all train)."""
    if not trainable:
        return
    parts = dict(method.named_children())
    unknown = sorted(set(trainable) - set(parts))
    if unknown:
        raise ConfigError(f"train.trainable names {', '.join(unknown)}, which this method does not have; its parts: "
                          f"{', '.join(parts)}")
    for name, part in parts.items():
        part.requires_grad_(name in trainable)


def _restore(run_dir: Path, method: Method, optimizer: torch.optim.Optimizer) -> Position:
    folder = latest_checkpoint(run_dir)
    if folder is None:
        raise TrainingError(f"{run_dir} has no checkpoint to resume from; start it again without --resume")
    model_state, optim_state, state = load_checkpoint(folder)
    load_full_state_dicts(method, optimizer, model_state, optim_state)
    log.info("resuming %s from step %d of %d", run_dir, state["step"], state["total_steps"])
    return Position(state["step"], state["total_steps"], state["elapsed"])


def run_loop(cfg: RunConfig, run_dir: Path, train_step: TrainStep, batches: TrainBatches, position: Position,
             resume: bool, progress: bool) -> None:
    """Steps from ``position`` until the schedule ends, ``train.stop_at``, the time budget or a stop request;
    the callbacks see each step's record and the end."""
    state = LoopState(cfg, run_dir, position, train_step, fits_budget=bool(cfg.train.minutes) and not resume)
    callbacks = default_callbacks(state, progress)
    budget = cfg.train.minutes * 60 if cfg.train.minutes else math.inf
    train_step.method.train()
    reason = "done"
    with _StopRequest() as stop, logging_redirect_tqdm():
        for batch in batches.iterate(position.step, 10**12 if state.fits_budget else state.stop_at):
            t0 = time.perf_counter()
            batch["diagnose"] = state.diagnoses(batch["step"] + 1)
            try:
                record, (stop_now, out_of_time) = train_step(batch, position.total_steps,
                                                             [stop.requested, state.elapsed() >= budget])
            except NonFiniteLoss as err:
                raise WorkFailed(f"{err}; stopped without saving. Last checkpoint: {state.last_checkpoint()}, "
                                    f"intact. Try a lower optim.lr, optim.clip_grad, or train.precision=fp32") from None
            position.step = record["step"]
            record["images_per_s"] = cfg.train.batch_size / (time.perf_counter() - t0)
            callbacks.after_step(record)
            if stop_now or out_of_time:
                reason = "interrupted" if stop_now else "time budget reached"
                break
            if position.step >= state.stop_at:
                reason = "done" if position.step >= position.total_steps else "paused at train.stop_at"
                break
    callbacks.close()
    if reason == "interrupted":
        raise TrainingInterrupted(f"stopped at step {position.step} of {position.total_steps} with a checkpoint; "
                                  f"continue with: openjepa train --resume {run_dir}")
    if position.step < position.total_steps:
        log.warning("%s at step %d of %d; continue with: openjepa train --resume %s", reason, position.step,
                    position.total_steps, run_dir)
