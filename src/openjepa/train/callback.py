"""What the training callbacks share: the run's position, the loop's state, and the callback interface."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openjepa.runs.config import RunConfig


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
        self.schedule_known = not fits_budget  # a budget's schedule is known once the first steps are timed
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
        return self.info.is_main and self.diagnoses(step)

    def diagnoses(self, step: int) -> bool:
        """Whether step ``step`` computes its collapse diagnostics: the steps that are logged (on every rank, so that
        the ranks' logs reduce together)."""
        return step % self.cfg.train.log_every == 0 or step == self.stop_at


class Callback:
    def after_step(self, record: dict[str, Any]) -> None:
        """After the optimizer step ``record["step"]``; ``record`` holds its loss, parts and settings."""

    def close(self) -> None:
        """After the last step (also when stopped early)."""


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
