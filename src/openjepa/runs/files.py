"""A run folder on disk: its config, atomic writes, and making a folder ready for a new run."""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
import yaml
from safetensors.torch import save_file

from openjepa.compat.config_v1 import migrate
from openjepa.core.errors import ConfigError, TrainingError
from openjepa.runs.config import RunConfig, build_config, config_dict


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path``, flush it to disk, then rename it into place: readers see
    the old file or the new one, never a half-written one."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def write_json_atomic(path: Path, data: dict) -> None:
    write_text_atomic(Path(path), json.dumps(data, indent=2) + "\n")


def save_safetensors_atomic(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> None:
    """``tensors`` with string ``metadata`` as a safetensors file, written beside ``path`` then renamed into place."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, tmp, metadata=metadata)
    os.replace(tmp, path)


def check_report_target(path: Path, keys: tuple[str, ...], what: str) -> None:
    """Refuse to write a ``what`` report over anything but an earlier one (a JSON object holding one of ``keys``):
    a user's own file stays as it is."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"--out {path} is a folder; give a .json file name")
    if not path.exists():
        return
    try:
        earlier = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError):
        earlier = None
    if not isinstance(earlier, dict) or not set(keys) & set(earlier):
        raise ConfigError(f"--out {path} exists and is not an earlier {what} report; give another --out (nothing was "
                          f"overwritten)")


def is_run(path: Path) -> bool:
    """Whether ``path`` holds an openjepa run (its ``config.yaml``)."""
    return (Path(path) / "config.yaml").is_file()


def load_run_config(run_dir: Path) -> RunConfig:
    """The config of the run in ``run_dir`` (runs of earlier layouts read through :func:`migrate`)."""
    path = Path(run_dir) / "config.yaml"
    if not path.is_file():
        raise TrainingError(f"{run_dir} is not an openjepa run: {path.name} is missing")
    return build_config(migrate(yaml.safe_load(path.read_text())))


def write_run_config(run_dir: Path, cfg: RunConfig) -> None:
    write_text_atomic(Path(run_dir) / "config.yaml", yaml.safe_dump(config_dict(cfg), sort_keys=False))


def check_new_run_dir(run_dir: Path) -> bool:
    """Refuse a ``run_dir`` a new run may not start in: a file, a run that has reached a checkpoint, or a folder of
    other files. Returns whether it holds a run that never reached a checkpoint (a failed or killed start), which a
    new start replaces. Creates nothing."""
    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise TrainingError(f"--out {run_dir} is a file; give a folder for the run (nothing was written)")
    if (run_dir / "checkpoints").is_dir() and any((run_dir / "checkpoints").iterdir()):
        raise TrainingError(f"{run_dir} already holds a run; continue it with --resume {run_dir} "
                            f"or pick another --out (nothing was overwritten)")
    if is_run(run_dir):
        return True
    if run_dir.is_dir() and any(run_dir.iterdir()):
        raise TrainingError(f"--out {run_dir} is not empty and is not an openjepa run; give a new or empty folder "
                            f"(nothing was written)")
    return False
