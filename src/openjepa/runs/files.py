"""A run folder on disk: its config, atomic writes, and making a folder ready for a new run."""

from __future__ import annotations

import json
import os
from pathlib import Path

import yaml

from openjepa.core.errors import TrainingError
from openjepa.runs.config import RunConfig, build_config, config_dict
from openjepa.compat.config_v1 import migrate


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


def prepare_run_dir(run_dir: Path) -> None:
    """Create ``run_dir`` for a new run; refuse a folder that holds one already."""
    if (run_dir / "config.yaml").exists() or (run_dir / "checkpoints").exists():
        raise TrainingError(f"{run_dir} already holds a run; continue it with --resume {run_dir} "
                            f"or pick another --out (nothing was overwritten)")
    run_dir.mkdir(parents=True, exist_ok=True)
