"""A run's whole configuration, the recipe files, and building a method from a config."""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from openjepa.config import ConfigError, from_dict, load_yaml, merge, parse_overrides, suggest, to_dict
from openjepa.data.resolve import DataConfig
from openjepa.eval.config import EvalConfig
from openjepa.methods import METHODS, IJepaConfig, Method, MethodConfig, Normalize
from openjepa.nn.vit import ViT, ViTConfig
from openjepa.train.config import OptimConfig, TrainConfig
from openjepa.world.mpc import PlanConfig


@dataclass
class RunConfig:
    """Everything a run needs; saved as ``RUN/config.yaml`` with the data facts filled in. ``plan``: how
    ``openjepa plan`` drives a world-model run (unused by other methods)."""

    description: str = ""
    method: MethodConfig = field(default_factory=IJepaConfig)
    encoder: ViTConfig = field(default_factory=ViTConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    plan: PlanConfig = field(default_factory=PlanConfig)
    channels: int | None = None


def recipe_files() -> dict[str, Path]:
    """Recipe name -> YAML path, for the recipes shipped in ``openjepa/recipes``."""
    folder = resources.files("openjepa") / "recipes"
    return {Path(p.name).stem: Path(str(p)) for p in folder.iterdir() if p.name.endswith(".yaml")}


def list_recipes() -> list[tuple[str, str]]:
    """(name, one-line description) of every shipped recipe, sorted by name."""
    out = []
    for name, path in sorted(recipe_files().items()):
        lines = str(load_yaml(path).get("description") or "").strip().splitlines()
        out.append((name, lines[0] if lines else ""))
    return out


def recipe_dict(name_or_path: str) -> dict:
    """The raw mapping of a shipped recipe name or a YAML file path."""
    files = recipe_files()
    if name_or_path in files:
        return load_yaml(files[name_or_path])
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        return load_yaml(path)
    raise ConfigError(f"unknown recipe '{name_or_path}'{suggest(name_or_path, list(files), 'recipes')}")


def build_config(base: dict, overrides: list[str] | dict | None = None) -> RunConfig:
    """RunConfig from a recipe mapping plus ``key.sub=value`` overrides (strings or a nested dict)."""
    if isinstance(overrides, list):
        overrides = parse_overrides(overrides)
    return from_dict(RunConfig, merge(base, overrides or {}), "config")


def config_dict(cfg: RunConfig) -> dict:
    return to_dict(cfg)


def build_method(cfg: RunConfig) -> Method:
    """The method of a config whose data facts (image size, channels, mean, std) are filled in."""
    if cfg.data.image_size is None or cfg.channels is None or cfg.data.mean is None or cfg.data.std is None:
        raise ConfigError("build_method needs data.image_size, channels, data.mean and data.std; "
                          "they are filled in from the dataset when a run starts")
    if cfg.data.image_size % cfg.encoder.patch_size:
        raise ConfigError(
            f"image size {cfg.data.image_size} is not a multiple of encoder.patch_size {cfg.encoder.patch_size}; "
            f"set data.image_size to a multiple (e.g. {cfg.data.image_size // cfg.encoder.patch_size * cfg.encoder.patch_size}) "
            f"or change encoder.patch_size"
        )
    size = cfg.data.image_size
    # a frozen video encoder taken from another run keeps the clip length it was built for
    frames = getattr(cfg.method, "encoder_frames", None) or cfg.data.frames
    encoder = ViT(cfg.encoder, cfg.channels, size if cfg.encoder.tubelet is None else (frames, size, size))
    _, method_cls = METHODS[cfg.method.name]
    return method_cls(cfg.method, encoder, Normalize(cfg.data.mean, cfg.data.std))
