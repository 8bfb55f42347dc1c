"""A run's whole configuration and the recipe files.

``RunConfig`` composes one typed section per part: the method (chosen by ``method.name`` among the registered
methods), the encoder, the data (chosen by ``data.modality`` among the registered modalities), the loop, the
optimizer, and evaluation (the modality's own settings). ``plugins`` names modules imported before the rest is read,
so that methods, datasets and evaluation tasks registered outside the package can be named. When a run starts, the
data's :class:`~openjepa.core.spec.InputSpec` is written into ``spec``.
"""

from __future__ import annotations

import importlib
import os
import sys
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from openjepa.core.config import Registered, from_dict, load_yaml, merge, parse_overrides, to_dict
from openjepa.core.device import check_device
from openjepa.core.errors import ConfigError, suggest
from openjepa.core.spec import InputSpec
from openjepa.methods.registry import METHODS
from openjepa.modalities.registry import MODALITIES
from openjepa.nn.vit import ViTConfig
from openjepa.optim.config import OptimConfig

VERSION = 2  # the layout of config.yaml; runs written before it are read through openjepa.runs.migrate


@dataclass
class TrainConfig:
    """The loop. ``steps`` is the schedule length; ``minutes`` (if set) fits the schedule to a time
    budget after timing the first steps. ``batch_size`` is global (split over processes). ``precision``: ``bf16``
    autocast, ``fp32``, or ``auto``: bf16 where the device computes it natively (GPUs, CPUs with AVX-512 BF16 or
    AMX), else fp32. ``trainable``: the method's parts (top-level modules, e.g. ``predictor``) that learn; empty:
    all of them. ``tensorboard``: also write the logged numbers as TensorBoard event files in ``RUN/tensorboard``
    (the ``tensorboard`` extra). How the steps run, changing the results by rounding at most: ``sharding`` under
    torchrun (``ddp``: a whole copy per process; ``fsdp``: FSDP2 shards each transformer block, then the rest, over
    the processes), ``activation_checkpointing`` (each transformer block's activations recomputed in the backward
    pass: less memory, more compute) and ``compile`` (``torch.compile`` of each transformer block; for GPUs)."""

    steps: int = 1000
    minutes: float | None = None
    batch_size: int = 128
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    seed: int = 0
    device: str = "auto"
    threads: int | None = None
    num_workers: int = 0
    log_every: int = 1
    checkpoint_every: int = 200
    keep_checkpoints: int = 2
    stop_at: int | None = None
    collapse_token_std: float = 0.02
    collapse_rank_fraction: float = 0.02
    trainable: list[str] = field(default_factory=list)
    tensorboard: bool = False
    sharding: Literal["ddp", "fsdp"] = "ddp"
    activation_checkpointing: bool = False
    compile: bool = False

    def validate(self) -> None:
        if self.steps < 1:
            raise ValueError(f"train.steps must be >= 1, got {self.steps}")
        if self.minutes is not None and self.minutes <= 0:
            raise ValueError(f"train.minutes must be > 0, got {self.minutes}")
        if self.batch_size < 2:
            raise ValueError(f"train.batch_size must be >= 2, got {self.batch_size}")
        if self.log_every < 1 or self.checkpoint_every < 1:
            raise ValueError("train.log_every and train.checkpoint_every must be >= 1")
        if self.stop_at is not None and self.stop_at < 1:
            raise ValueError(f"train.stop_at (--stop-at) must be >= 1, got {self.stop_at}")
        if self.stop_at is not None and self.minutes is None and self.stop_at > self.steps:
            raise ValueError(f"train.stop_at (--stop-at) {self.stop_at} lies beyond the schedule's {self.steps} steps")
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"train.threads must be >= 1 (or null: all cores), got {self.threads}")
        if self.num_workers < 0:
            raise ValueError(f"train.num_workers must be >= 0, got {self.num_workers}")
        check_device(self.device)


@dataclass
class InitConfig:
    """Start from another openjepa run. ``run``: its folder (or an HF I-JEPA or V-JEPA 2 folder, an encoder
    only); ``what``: ``encoder`` (its evaluated encoder: this run takes its encoder settings, input spec,
    normalisation and weights) or ``all`` (every weight of the same method). Read when the run starts; a resumed
    run needs the other run no more."""

    run: str = ""
    what: Literal["encoder", "all"] = "encoder"


def _config_class(entry: Any) -> type:
    return entry.config_class


def _data_config(entry: Any) -> type:
    return entry.data_config


@dataclass
class RunConfig:
    """Everything a run needs; saved as ``RUN/config.yaml``. ``member``: the family member a recipe reproduces
    (for ``openjepa recipes``). ``spec``: the data's input spec, filled in when the run starts; ``encoder_spec``: the
    input spec of an encoder taken from another run (``init.what: encoder``) when it differs from the data's."""

    description: str = ""
    member: str = ""
    plugins: list[str] = field(default_factory=list)
    method: Annotated[Any, Registered(METHODS, "name", _config_class)] = None
    encoder: ViTConfig = field(default_factory=ViTConfig)
    data: Annotated[Any, Registered(MODALITIES, "modality", _data_config)] = None
    train: TrainConfig = field(default_factory=TrainConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    eval: Any = None
    init: InitConfig = field(default_factory=InitConfig)
    spec: InputSpec | None = None
    encoder_spec: InputSpec | None = None
    version: int = VERSION

    def validate(self) -> None:
        for section in ("method", "data"):
            if getattr(self, section) is None:
                raise ValueError(f"a recipe needs a '{section}' section")


def recipe_files() -> dict[str, Path]:
    """Recipe name -> YAML path, for the recipes shipped in ``openjepa/recipes``."""
    folder = resources.files("openjepa") / "recipes"
    return {Path(p.name).stem: Path(str(p)) for p in folder.iterdir() if p.name.endswith(".yaml")}


@dataclass
class RecipeInfo:
    """A shipped recipe as ``openjepa recipes`` lists it."""

    name: str
    modality: str
    member: str
    description: str


def list_recipes() -> list[RecipeInfo]:
    """Every shipped recipe, sorted by modality, family member and name."""
    out = []
    for name, path in recipe_files().items():
        raw = load_yaml(path)
        lines = str(raw.get("description") or "").strip().splitlines()
        out.append(RecipeInfo(name, str((raw.get("data") or {}).get("modality", "?")),
                              str(raw.get("member") or (raw.get("method") or {}).get("name", "?")),
                              lines[0] if lines else ""))
    return sorted(out, key=lambda r: (r.modality, r.member, r.name))


def recipe_dict(name_or_path: str) -> dict:
    """The raw mapping of a shipped recipe name or a YAML file path."""
    files = recipe_files()
    if name_or_path in files:
        return load_yaml(files[name_or_path])
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        return load_yaml(path)
    raise ConfigError(f"unknown recipe '{name_or_path}'{suggest(name_or_path, list(files), 'recipes')}")


def import_plugins(names: list[str]) -> None:
    """Import the modules a config names under ``plugins`` (they register their methods, datasets, tasks), from the
    Python path or the current directory."""
    if names and os.getcwd() not in sys.path:
        sys.path.append(os.getcwd())
    for name in names:
        try:
            importlib.import_module(name)
        except ImportError as err:
            raise ConfigError(f"plugins: cannot import '{name}' ({err}); it must be importable from the "
                              f"current directory or the Python path") from None


def build_config(base: dict, overrides: list[str] | dict | None = None) -> RunConfig:
    """RunConfig from a recipe mapping plus ``key.sub=value`` overrides (strings or a nested dict). The ``eval``
    section is read with the settings of the data's modality."""
    if isinstance(overrides, list):
        overrides = parse_overrides(overrides)
    raw = merge(base, overrides or {})
    import_plugins(raw.get("plugins") or [])
    cfg = from_dict(RunConfig, {k: v for k, v in raw.items() if k != "eval"}, "config")
    eval_settings = raw.get("eval") or {}
    if not isinstance(eval_settings, dict):
        raise ConfigError(f"config.eval: expected a mapping, got {eval_settings!r}")
    cfg.eval = from_dict(MODALITIES.get(cfg.data.modality).eval_config, eval_settings, "config.eval")
    return cfg


def config_dict(cfg: RunConfig) -> dict:
    return to_dict(cfg)
