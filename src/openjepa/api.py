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
from openjepa.eval.video import StepwiseEncoder
from openjepa.interop.hf_ijepa import is_hf_ijepa_folder, load_hf_ijepa
from openjepa.interop.hf_vjepa2 import is_hf_vjepa2_folder, load_hf_vjepa2, predict_like_hf
from openjepa.methods.base import Normalize
from openjepa.nn.vit import ViT
from openjepa.runconfig import RunConfig, build_config, recipe_dict
from openjepa.train.trainer import TrainingError, fit

log = logging.getLogger("openjepa")
IMAGENET_MEAN, IMAGENET_STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]

__all__ = ["embed", "evaluate", "load", "predict", "read_clips", "read_images", "train"]


def load(path: str | Path, *, encoder: str | None = None) -> ViT:
    """The encoder of an openjepa run folder or an HF I-JEPA / V-JEPA 2 folder, in eval mode.

    Maps normalised images ``(B, C, H, W)`` (or clips ``(B, C, T, H, W)`` for video
    encoders) to token features ``(B, N, D)``. Its ``input_mean``/``input_std``
    attributes give the normalisation it expects (run: the training data's; HF:
    ``preprocessor_config.json``'s, else None). ``encoder`` picks ``target`` or
    ``context`` for runs (default: the run's eval choice).
    """
    path = Path(path)
    if is_hf_vjepa2_folder(path):
        vit, _ = load_hf_vjepa2(path)
        vit.input_mean, vit.input_std = None, None
        return vit
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
    raise TrainingError(f"{path} is neither an openjepa run (config.yaml) nor an HF I-JEPA or V-JEPA 2 folder "
                        f"(config.json with model_type 'ijepa' or 'vjepa2')")


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


def read_clips(paths: list[str | Path], frames: int, size: int) -> torch.Tensor:
    """Video files -> uint8 ``(N, 3, frames, size, size)``: the centred clip of each, resized and centre-cropped."""
    from openjepa.data.video_io import read_clip

    if not paths:
        raise DataError("no videos given to embed")
    return torch.stack([read_clip(p, frames, size=size) for p in paths])


def _normalize_for(vit: ViT) -> Normalize:
    """The normalisation a loaded encoder expects (ImageNet's when it carries none)."""
    mean = getattr(vit, "input_mean", None)
    std = getattr(vit, "input_std", None)
    if mean is None or std is None:
        if vit.in_chans != 3:
            raise DataError("this encoder carries no normalisation and is not RGB; pass a normalised tensor instead")
        log.warning("no preprocessor_config.json: normalising with ImageNet mean/std")
        mean, std = IMAGENET_MEAN, IMAGENET_STD
    return Normalize(mean, std)


def _read_inputs(vit: ViT, inputs: list[str | Path] | torch.Tensor) -> torch.Tensor:
    if torch.is_tensor(inputs):
        return inputs
    if vit.config.tubelet is not None:
        return read_clips(list(inputs), vit.input_size[0], vit.input_size[1])
    return read_images(list(inputs), vit.in_chans, vit.image_size[0])


def embed(model: str | Path | ViT, inputs: list[str | Path] | torch.Tensor, *, tokens: bool = False,
          per_step: bool = False, batch_size: int = 256) -> np.ndarray:
    """Embeddings of image or video files (or a uint8 ``(N, C, H, W)`` / ``(N, C, T, H, W)`` tensor):
    ``(N, D)`` mean-pooled, or ``(N, L, D)`` token features with ``tokens=True``. Video encoders read
    the centred clip of each file at the encoder's clip length and frame size; ``per_step`` encodes each
    time step of a clip on its own, as ``eval.tokens: step`` does."""
    vit = load(model) if not isinstance(model, ViT) else model
    if per_step and vit.config.tubelet is None:
        raise DataError("per-step embeddings need a video encoder; this one reads images")
    x = _read_inputs(vit, inputs)
    net = StepwiseEncoder(vit) if per_step else vit
    return encoder_features(net, _normalize_for(vit), x, pool=not tokens, batch_size=batch_size).numpy()


def predict(model: str | Path, videos: list[str | Path] | torch.Tensor, context: torch.Tensor | None = None,
            target: torch.Tensor | None = None, *, context_steps: int | None = None
            ) -> tuple[np.ndarray, np.ndarray, torch.Tensor, torch.Tensor]:
    """Token features ``(N, L, D)`` of clips and the predictor's output ``(N, Lt, D)`` at token ids ``target (Lt,)``
    from the tokens at ``context (Lc,)``; without ids, the first ``context_steps`` token time steps (default
    half) predict the rest. Returns ``(features, predicted, context, target)``.

    HF V-JEPA 2 folders work as ``VJEPA2Model`` does (the encoder sees the whole clip, the predictor
    its context tokens); openjepa runs as they were trained (the context encoder sees only the
    context tokens, features come from the target encoder; the predictor uses the mask token of
    the recipe's ``future`` masks if it has them).
    """
    from openjepa.eval.surprise import future_split

    path = Path(model)
    hf = is_hf_vjepa2_folder(path)
    if hf:
        vit, predictor = load_hf_vjepa2(path)
        normalize = _normalize_for(vit)
    else:
        cfg, method = load_trained_method(path)
        if not hasattr(method, "predict_targets"):
            raise TrainingError(f"{path} is not a video JEPA run with a predictor (method {cfg.method.name})")
        vit, normalize = method.encoder, method.normalize
    if context is None or target is None:
        context, target = future_split(vit.grid, context_steps or vit.grid[0] // 2)
    clips = normalize(_read_inputs(vit, videos).float().div(255))
    ctx, tgt = context.expand(len(clips), -1), target.expand(len(clips), -1)
    if hf:
        features, pred = predict_like_hf(vit, predictor, clips, ctx, tgt)
    else:
        with torch.no_grad():
            features, pred = method.eval_encoder("target")(clips), method.predict_targets(clips, ctx, tgt)
    return features.numpy(), pred.numpy(), context, target


def train(recipe: str | RunConfig, out: str | Path, *, overrides: list[str] | None = None, resume: bool = False,
          progress: bool = True) -> Path:
    """Train a recipe (name, YAML path or RunConfig) into ``out``; ``resume=True`` continues ``out``."""
    cfg = recipe if isinstance(recipe, RunConfig) else build_config(recipe_dict(recipe), overrides)
    return fit(None if resume else cfg, out, resume=resume, progress=progress)


def evaluate(run: str | Path, data: str | None = None, *, encoder: str | None = None) -> dict:
    """Probe a run (trained vs random init vs raw pixels); writes ``RUN/eval.json``. ``encoder``
    (``target``/``context``) overrides the run's ``eval.encoder``."""
    return evaluate_run(run, data, encoder=encoder)
