"""What happens around each training step: fitting the schedule to a time budget, the progress bar and
``metrics.jsonl`` (and TensorBoard, :mod:`openjepa.train.tensorboard`), collapse warnings, checkpoints, and the
training curves at the end."""

from __future__ import annotations

import logging
import time
from typing import Any

from tqdm import tqdm

from openjepa.runs.checkpoint import save_checkpoint
from openjepa.runs.files import write_run_config
from openjepa.runs.metrics import MetricsWriter, read_metrics, truncate_metrics
from openjepa.train.budget import TimeBudget
from openjepa.train.callback import Callback, Callbacks, LoopState
from openjepa.train.distributed import broadcast_object
from openjepa.train.parallel import full_state_dicts
from openjepa.train.tensorboard import TensorBoardLog
from openjepa.viz.curves import plot_training_curves

log = logging.getLogger("openjepa")


class BudgetFit(Callback):
    """Fits the schedule length to ``train.minutes`` (see :class:`~openjepa.train.budget.TimeBudget`)."""

    def __init__(self, state: LoopState):
        self.state = state
        self.seconds = state.cfg.train.minutes * 60
        self.budget = TimeBudget(self.seconds, state.position.step)

    def after_step(self, record: dict[str, Any]) -> None:
        fitted = self.budget.observe(record["step"], self.state.elapsed(), time.perf_counter())
        if fitted is None:
            return
        fitted = broadcast_object(fitted, self.state.info)
        first = not self.state.schedule_known
        self.state.set_total(fitted)
        self.state.schedule_known = True
        if self.state.info.is_main:
            self.state.cfg.train.steps = fitted
            write_run_config(self.state.run_dir, self.state.cfg)
        log.log(logging.INFO if first else logging.DEBUG, "time budget %.1f min: schedule fitted to %d steps",
                self.seconds / 60, fitted)
        warmup = self.state.cfg.optim.warmup_steps
        if first and fitted <= 2 * warmup:
            log.warning("the fitted schedule (%d steps) is short beside optim.warmup_steps=%d: the learning rate "
                        "spends %s of the run warming up; give more minutes or a shorter warmup", fitted, warmup,
                        "all" if fitted <= warmup else "half or more")


class ProgressLog(Callback):
    """The progress bar and ``metrics.jsonl`` (one record per logged step; a resumed run first drops the records
    after its checkpoint)."""

    def __init__(self, state: LoopState, progress: bool):
        self.state = state
        path = state.run_dir / "metrics.jsonl"
        self.writer = None
        if state.info.is_main:
            truncate_metrics(path, state.position.step)
            self.writer = MetricsWriter(path)
        self.bar = tqdm(total=state.position.total_steps if state.schedule_known else None,
                        initial=state.position.step, dynamic_ncols=True,
                        disable=not (progress and state.info.is_main), desc=state.run_dir.name, unit="step")

    def after_step(self, record: dict[str, Any]) -> None:
        if self.state.schedule_known and self.bar.total != self.state.position.total_steps:
            self.bar.total = self.state.position.total_steps
            self.bar.refresh()
        self.bar.update(1)
        if self.state.logs_step(record["step"]):
            record["time"] = self.state.elapsed()
            self.writer.write(record)
            self.bar.set_postfix(loss=f"{record['loss']:.4f}", img_s=f"{record['images_per_s']:.0f}", refresh=False)

    def close(self) -> None:
        self.bar.close()
        if self.writer is not None:
            self.writer.close()


class CollapseWatch(Callback):
    """Warns (at most every 100 steps, after warmup) when token std or effective rank fall to collapse levels."""

    def __init__(self, state: LoopState):
        self.state, self.last = state, -10**9

    def after_step(self, record: dict[str, Any]) -> None:
        cfg, done = self.state.cfg, record["step"]
        if not self.state.logs_step(done) or done < cfg.optim.warmup_steps or done - self.last < 100:
            return
        width = self.state.train_step.method.eval_encoder().width
        rank_floor = cfg.train.collapse_rank_fraction * min(cfg.train.batch_size, width)
        std, rank = record.get("token_std"), record.get("rankme")
        if (std is not None and std < cfg.train.collapse_token_std) or (rank is not None and rank < rank_floor):
            log.warning("representations look collapsed at step %d: token std %.4f (warn < %.3g), RankMe %.1f "
                        "(warn < %.1f)", done, std or float("nan"), cfg.train.collapse_token_std,
                        rank or float("nan"), rank_floor)
            self.last = done


class Checkpoints(Callback):
    """A checkpoint every ``train.checkpoint_every`` steps and at the end (on every rank's schedule, gathered from a
    sharded method by every rank, written by rank 0)."""

    def __init__(self, state: LoopState):
        self.state = state

    def save(self) -> None:
        state, step = self.state, self.state.position.step
        state.position.elapsed, state.session_start = state.elapsed(), time.perf_counter()
        model_state, optim_state = full_state_dicts(state.train_step.method, state.train_step.optimizer)
        if state.info.is_main:
            record = {"step": step, "total_steps": state.position.total_steps, "elapsed": state.position.elapsed}
            save_checkpoint(state.run_dir, step, model_state, optim_state, record,
                            keep=state.cfg.train.keep_checkpoints)
        state.last_saved = step

    def after_step(self, record: dict[str, Any]) -> None:
        if record["step"] % self.state.cfg.train.checkpoint_every == 0:
            self.save()

    def close(self) -> None:
        if self.state.last_saved != self.state.position.step:
            self.save()


class Plots(Callback):
    """``plots/loss.png`` and ``plots/collapse.png`` from ``metrics.jsonl`` at the end."""

    def __init__(self, state: LoopState):
        self.state = state

    def close(self) -> None:
        if self.state.info.is_main:
            plot_training_curves(read_metrics(self.state.run_dir / "metrics.jsonl"), self.state.run_dir / "plots")


def default_callbacks(state: LoopState, progress: bool) -> Callbacks:
    """The training run's callbacks: the budget fit first (the stop point it sets decides which steps are logged),
    then logging (and TensorBoard with ``train.tensorboard``), collapse warnings, checkpoints and plots."""
    callbacks = [BudgetFit(state)] if state.fits_budget else []
    callbacks.append(ProgressLog(state, progress))
    if state.cfg.train.tensorboard:
        callbacks.append(TensorBoardLog(state))
    return Callbacks(callbacks + [CollapseWatch(state), Checkpoints(state), Plots(state)])
