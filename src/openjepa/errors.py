"""The exceptions openjepa's public functions raise for bad input or a failed step (see :mod:`openjepa.core.errors`)."""

from openjepa.core.errors import (
    USER_ERRORS,
    CheckpointError,
    ConfigError,
    DataError,
    MissingExtraError,
    TrainingError,
    WeightsError,
    WorkFailed,
)

__all__ = ["USER_ERRORS", "CheckpointError", "ConfigError", "DataError", "MissingExtraError", "TrainingError",
           "WeightsError",
           "WorkFailed"]
