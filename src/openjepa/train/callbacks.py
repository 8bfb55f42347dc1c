"""What happens around each training step: fitting the schedule to a time budget, the progress bar and
``metrics.jsonl``, collapse warnings, checkpoints, and the training curves at the end."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from openjepa.runs.checkpoint import save_checkpoint
from openjepa.runs.config import RunConfig
from openjepa.runs.metrics import MetricsWriter, read_metrics, truncate_metrics
from openjepa.train.budget import TimeBudget
from openjepa.train.distributed import broadcast_object
from openjepa.viz.curves import plot_training_curves

log = logging.getLogger("openjepa")


@dataclass
class Position:
    """Where a run stands: optimizer steps done, the schedule's length, and seconds trained before this session
    (what a checkpoint's ``state.json`` records)."""

    step: int
    total_steps: int
    elapsed: float = 0.0


class LoopState:
    """What the callbacks share: the run, its position and stop point, the session's clock, the step
    (``train_step.method``, ``.optimizer``, ``.info``), and whether the schedule is fitted to a time budget."""

    def __init__(self, cfg: RunConfig, run_dir: Path, position: Position, train_step: Any, fits_budget: bool):
        self.cfg, self.run_dir, self.position, self.train_step = cfg, run_dir, position, train_step
        self.info, self.fits_budget = train_step.info, fits_budget
        self.session_start = time.perf_counter()
        self.last_saved = position.step
        self.stop_at = 0
        self.set_total(position.total_steps)

    def set_total(self, total: int) -> None:
        """A new schedule length (and the stop point it implies)."""
        self.position.total_steps = total
        self.stop_at = min(self.cfg.train.stop_at or total, total)

    def elapsed(self) -> float:
        """Seconds trained, this session and before."""
        return self.position.elapsed + time.perf_counter() - self.session_start

    def last_checkpoint(self) -> str:
        return f"step {self.last_saved} in {self.run_dir / 'checkpoints'}" if self.last_saved else "none written yet"

    def logs_step(self, step: int) -> bool:
        """Whether ``step`` is written to ``metrics.jsonl``."""
        return self.info.is_main and (step % self.cfg.train.log_every == 0 or step == self.stop_at)


class Callback:
    def after_step(self, record: dict[str, Any]) -> None:
        """After the optimizer step ``record["step"]``; ``record`` holds its loss, parts and settings."""

    def close(self) -> None:
        """After the last step (also when stopped early)."""


class BudgetFit(Callback):
    """Fits the schedule length to ``train.minutes`` (see :class:`~openjepa.train.budget.TimeBudget`)."""

    def __init__(self, state: LoopState):
        self.state = state
        self.seconds = state.cfg.train.minutes * 60
        self.budget = TimeBudget(self.seconds, state.position.step)

    def after_step(self, record: dict[str, Any]) -> None:
        fitted = self.budget.observe(record["step"], self.state.elapsed(), time.perf_counter())
        if fitted is not None:
            self.state.set_total(broadcast_object(fitted, self.state.info))
            log.info("time budget %.1f min: schedule fitted to %d steps", self.seconds / 60, fitted)


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
        self.bar = tqdm(total=state.position.total_steps, initial=state.position.step, dynamic_ncols=True,
                        disable=not (progress and state.info.is_main), desc=state.run_dir.name, unit="step")

    def after_step(self, record: dict[str, Any]) -> None:
        if self.bar.total != self.state.position.total_steps:
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
    """A checkpoint every ``train.checkpoint_every`` steps and at the end (on every rank's schedule, written by
    rank 0)."""

    def __init__(self, state: LoopState):
        self.state = state

    def save(self) -> None:
        state, step = self.state, self.state.position.step
        state.position.elapsed, state.session_start = state.elapsed(), time.perf_counter()
        if state.info.is_main:
            record = {"step": step, "total_steps": state.position.total_steps, "elapsed": state.position.elapsed}
            save_checkpoint(state.run_dir, step, state.train_step.method.state_dict(),
                            state.train_step.optimizer.state_dict(), record, keep=state.cfg.train.keep_checkpoints)
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


class Callbacks(Callback):
    """Several callbacks in order."""

    def __init__(self, callbacks: list[Callback]):
        self.callbacks = callbacks

    def after_step(self, record: dict[str, Any]) -> None:
        for callback in self.callbacks:
            callback.after_step(record)

    def close(self) -> None:
        for callback in self.callbacks:
            callback.close()


def default_callbacks(state: LoopState, progress: bool) -> Callbacks:
    """The training run's callbacks: the budget fit first (the stop point it sets decides which steps are logged),
    then logging, collapse warnings, checkpoints and plots."""
    first = [BudgetFit(state)] if state.fits_budget else []
    return Callbacks(first + [ProgressLog(state, progress), CollapseWatch(state), Checkpoints(state), Plots(state)])
