"""Fitting a run's schedule to a time budget."""

from __future__ import annotations

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
