"""The errors that report bad input to users (printed without a traceback by the CLI)."""

from openjepa.config import ConfigError
from openjepa.data.folder import DataError
from openjepa.interop.safetensors_io import WeightsError
from openjepa.train.checkpoint import CheckpointError
from openjepa.train.trainer import TrainingError

USER_ERRORS = (ConfigError, DataError, WeightsError, CheckpointError, TrainingError, FileNotFoundError)
