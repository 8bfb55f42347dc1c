"""The errors that report bad input or a failed step to users; the CLI prints them as one line, no traceback."""

from __future__ import annotations

import difflib


class ConfigError(ValueError):
    """A config key or value that does not fit the schema, or a name nothing is registered under."""


class DataError(ValueError):
    """A dataset that cannot be read as asked; the message names the file or folder."""


class WeightsError(ValueError):
    """Weights that are missing, unreadable or do not fit the model."""


class CheckpointError(RuntimeError):
    """A checkpoint that is missing or cannot be read."""


class TrainingError(RuntimeError):
    """A run cannot start or go on (non-finite loss, a run folder in the way, a folder that is not a run, ...)."""


class WorkFailed(TrainingError):
    """The work itself failed on valid input (a loss that became non-finite, ...); the CLI exits 1, not 2."""


class MissingExtraError(ImportError, ConfigError):
    """A part whose pip extra is not installed."""


USER_ERRORS = (ConfigError, DataError, WeightsError, CheckpointError, TrainingError, FileNotFoundError)


def suggest(key: str, valid: list[str], what: str = "keys") -> str:
    """``"; did you mean 'x'? Valid keys: ..."`` for an error message."""
    close = difflib.get_close_matches(key, valid, n=1, cutoff=0.4)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return f"{hint} Valid {what}: {', '.join(sorted(valid))}"
