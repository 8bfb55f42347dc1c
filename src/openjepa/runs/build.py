"""Building a run's method from its config, with trained or initial weights."""

from __future__ import annotations

from pathlib import Path

import torch

from openjepa.core.errors import ConfigError, TrainingError
from openjepa.core.protocols import Method
from openjepa.methods.registry import METHODS
from openjepa.modalities.registry import MODALITIES
from openjepa.nn.normalize import Normalize
from openjepa.nn.vit import ViT
from openjepa.runs.checkpoint import latest_checkpoint, load_checkpoint
from openjepa.runs.config import RunConfig
from openjepa.runs.files import load_run_config


def build_encoder(cfg: RunConfig) -> ViT:
    """The encoder for the run's input spec (``encoder_spec`` when it comes from another run), built by the
    spec's modality with its tokenizer."""
    spec = cfg.encoder_spec or cfg.spec
    return MODALITIES.get(spec.modality)().build_encoder(cfg.encoder, spec)


def build_method(cfg: RunConfig) -> Method:
    """The method of a config whose input spec and normalisation are filled in (they are when a run starts)."""
    if cfg.spec is None or cfg.data.mean is None or cfg.data.std is None:
        raise ConfigError("building a method needs the input spec and data.mean / data.std; they are filled in from "
                          "the dataset when a run starts")
    try:
        encoder = build_encoder(cfg)
        return METHODS.get(cfg.method.name)(cfg.method, encoder, Normalize(cfg.data.mean, cfg.data.std), cfg.spec)
    except ConfigError:
        raise
    except ValueError as err:  # parts check their settings against each other and against the data when built
        raise ConfigError(f"{cfg.method.name}: {err}") from None


def load_trained_method(run_dir: str | Path, device: torch.device | str = "cpu") -> tuple[RunConfig, Method]:
    """The run's config and its method with the latest checkpoint's weights, in eval mode."""
    cfg = load_run_config(Path(run_dir))
    folder = latest_checkpoint(Path(run_dir))
    if folder is None:
        raise TrainingError(f"{run_dir} has no checkpoint yet; train it first")
    method = build_method(cfg)
    method.load_state_dict(load_checkpoint(folder, with_optimizer=False)[0])
    return cfg, method.to(device).eval()


def random_init_method(cfg: RunConfig, device: torch.device | str = "cpu") -> Method:
    """The method exactly as the run's training started (same seed, same initial weights)."""
    torch.manual_seed(cfg.train.seed)
    return build_method(cfg).to(device).eval()
