"""The public Python API: ``load``, ``embed``, ``train``, ``evaluate``."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import torch

from openjepa.data.folder import DataError, _decode
from openjepa.data.images import resize_images
from openjepa.eval.evaluate import evaluate_run, load_trained_method
from openjepa.eval.features import encoder_features
from openjepa.interop.hf_ijepa import is_hf_ijepa_folder, load_hf_ijepa
from openjepa.methods.base import Normalize
from openjepa.nn.vit import ViT
from openjepa.runconfig import RunConfig, build_config, recipe_dict
from openjepa.train.trainer import TrainingError, fit

log = logging.getLogger("openjepa")
IMAGENET_MEAN, IMAGENET_STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]

__all__ = ["embed", "evaluate", "load", "read_images", "train"]


def load(path: str | Path, *, encoder: str | None = None) -> ViT:
    """The encoder of an openjepa run folder or an HF I-JEPA folder, in eval mode.

    Maps normalised images ``(B, C, H, W)`` to token features ``(B, N, D)``. Its
    ``input_mean``/``input_std`` attributes give the normalisation it expects
    (run: the training data's; HF: ``preprocessor_config.json``'s, else None).
    ``encoder`` picks ``target`` or ``context`` for runs (default: the run's eval choice).
    """
    path = Path(path)
    if is_hf_ijepa_folder(path):
        vit = load_hf_ijepa(path)
        prep = path / "preprocessor_config.json"
        meta = json.loads(prep.read_text()) if prep.is_file() else {}
        vit.input_mean, vit.input_std = meta.get("image_mean"), meta.get("image_std")
        return vit
    if (path / "config.yaml").is_file():
        cfg, method = load_trained_method(path)
        vit = method.eval_encoder(encoder or cfg.eval.encoder)
        vit.input_mean, vit.input_std = list(cfg.data.mean), list(cfg.data.std)
        return vit.eval()
    raise TrainingError(f"{path} is neither an openjepa run (config.yaml) nor an HF I-JEPA folder "
                        f"(config.json with model_type 'ijepa')")


def read_images(paths: list[str | Path], channels: int, size: int) -> torch.Tensor:
    """Image files -> uint8 ``(N, channels, size, size)`` (shorter side resized, centre crop)."""
    out = []
    for path in paths:
        img = _decode(Path(path))
        if isinstance(img, Exception):
            raise DataError(f"cannot read image {path}: {img}")
        t = torch.from_numpy(np.array(img)).permute(2, 0, 1)[None]
        if t.shape[1] != channels:
            t = t.expand(-1, 3, -1, -1) if channels == 3 else t.float().mean(1, keepdim=True).round().to(torch.uint8)
        out.append(resize_images(t, size))
    if not out:
        raise DataError("no images given to embed")
    return torch.cat(out)


def embed(model: str | Path | ViT, images: list[str | Path] | torch.Tensor, *, tokens: bool = False,
          batch_size: int = 256) -> np.ndarray:
    """Embeddings of image files (or a uint8 ``(N, C, H, W)`` tensor): ``(N, D)`` mean-pooled, or
    ``(N, T, D)`` token features with ``tokens=True``."""
    vit = load(model) if not isinstance(model, ViT) else model
    mean = getattr(vit, "input_mean", None)
    std = getattr(vit, "input_std", None)
    if mean is None or std is None:
        if vit.in_chans != 3:
            raise DataError("this encoder carries no normalisation and is not RGB; pass a normalised tensor instead")
        log.warning("no preprocessor_config.json: normalising with ImageNet mean/std")
        mean, std = IMAGENET_MEAN, IMAGENET_STD
    if not torch.is_tensor(images):
        images = read_images(list(images), vit.in_chans, vit.image_size[0])
    return encoder_features(vit, Normalize(mean, std), images, pool=not tokens, batch_size=batch_size).numpy()


def train(recipe: str | RunConfig, out: str | Path, *, overrides: list[str] | None = None, resume: bool = False,
          progress: bool = True) -> Path:
    """Train a recipe (name, YAML path or RunConfig) into ``out``; ``resume=True`` continues ``out``."""
    cfg = recipe if isinstance(recipe, RunConfig) else build_config(recipe_dict(recipe), overrides)
    return fit(None if resume else cfg, out, resume=resume, progress=progress)


def evaluate(run: str | Path, data: str | None = None) -> dict:
    """Probe a run (trained vs random init vs raw pixels); writes ``RUN/eval.json``."""
    return evaluate_run(run, data)
