"""The public Python API: ``train``, ``evaluate``, ``load``, ``embed``, ``predict``, ``fit_predictor``, ``flow``,
``fill``, ``caption``, ``energy``, ``free_energy``."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import torch

from openjepa.core.errors import ConfigError, DataError, TrainingError
from openjepa.core.protocols import EmbedsText, PredictsTargets
from openjepa.data.text import MASK, SPECIAL
from openjepa.data.tokenizer import WordTokenizer
from openjepa.eval.clips import StepwiseEncoder
from openjepa.eval.energy_report import pair_energies
from openjepa.eval.evaluate import evaluate_run
from openjepa.eval.features import as_unit_float, encoder_features
from openjepa.eval.tasks.motion_content import method_flows
from openjepa.eval.tasks.zero_shot import nearest_captions
from openjepa.interop.hf_ijepa import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    export_hf_ijepa,
    hf_input_spec,
    hf_normalisation,
    is_hf_ijepa_folder,
    load_hf_ijepa,
)
from openjepa.interop.hf_vjepa2 import hf_vjepa2_input_spec, is_hf_vjepa2_folder, load_hf_vjepa2, predict_like_hf
from openjepa.masks.tubes import future_split
from openjepa.modalities.registry import MODALITIES, load_data
from openjepa.nn.normalize import Normalize
from openjepa.nn.pyramid import backbone_of
from openjepa.nn.text_encoder import TextEncoder, text_embeddings
from openjepa.nn.vit import ViT
from openjepa.runs.build import build_method, load_trained_method
from openjepa.runs.config import RunConfig, build_config, config_dict, recipe_dict
from openjepa.runs.files import is_run, load_run_config
from openjepa.train.loop import fit

log = logging.getLogger("openjepa")

__all__ = ["caption", "embed", "energy", "evaluate", "export_hf", "fill", "fit_predictor", "flow", "free_energy",
           "load", "predict", "read_inputs", "train"]


def load(path: str | Path, *, encoder: str | None = None) -> ViT:
    """The encoder of an openjepa run folder or an HF I-JEPA / V-JEPA 2 folder, in eval mode.

    Maps normalised inputs (images ``(B, C, H, W)``, clips ``(B, C, T, H, W)``) to token features ``(B, N, D)``.
    Its ``input_spec`` attribute says what it reads (an :class:`~openjepa.core.spec.InputSpec`), ``input_mean`` /
    ``input_std`` the normalisation it expects (run: the training data's; HF: ``preprocessor_config.json``'s,
    else None). ``encoder`` picks ``target`` or ``context`` for runs (default: the run's eval choice).
    """
    path = Path(path)
    if is_hf_vjepa2_folder(path):
        vit, _ = load_hf_vjepa2(path)
        vit.input_mean, vit.input_std = None, None
        vit.input_spec = hf_vjepa2_input_spec(vit)
        return vit
    if is_hf_ijepa_folder(path):
        vit = load_hf_ijepa(path)
        vit.input_mean, vit.input_std = hf_normalisation(path)
        vit.input_spec = hf_input_spec(vit)
        return vit
    if is_run(path):
        cfg, method = load_trained_method(path)
        vit = method.eval_encoder(encoder or cfg.eval.encoder)
        vit.input_mean, vit.input_std = list(cfg.data.mean), list(cfg.data.std)
        vit.input_spec = cfg.encoder_spec or cfg.spec
        return vit.eval()
    raise TrainingError(f"{path} is neither an openjepa run (config.yaml) nor an HF I-JEPA or V-JEPA 2 folder "
                        f"(config.json with model_type 'ijepa' or 'vjepa2')")


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


def read_inputs(vit: ViT, inputs: list[str | Path] | torch.Tensor) -> torch.Tensor:
    """Samples for a loaded encoder: a tensor as given, or files read by the modality of its ``input_spec`` (images
    resized and centre-cropped; the centred clip of each video at the encoder's clip length)."""
    spec = vit.input_spec
    if torch.is_tensor(inputs):
        return checked_tensor(inputs, spec.channels, clips=vit.reads_clips)
    if isinstance(inputs, (str, Path)):
        inputs = [inputs]
    if not inputs:
        raise DataError("no inputs given: expected image or video files, or a tensor")
    return MODALITIES.get(spec.modality)().read_files(list(inputs), spec)


def checked_tensor(x: torch.Tensor, channels: int, *, clips: bool) -> torch.Tensor:
    """``x`` if an encoder of ``channels`` reads it: uint8 in 0-255 or float in [0, 1], ``(N, C, H, W)``, or
    ``(N, C, T, H, W)`` for an encoder of ``clips``; else a one-line :class:`DataError`."""
    layout = "(N, C, T, H, W)" if clips else "(N, C, H, W)"
    if x.dim() != (5 if clips else 4) or x.shape[1] != channels:
        raise DataError(f"expected a {layout} tensor with C={channels}, got shape {tuple(x.shape)}")
    if x.dtype != torch.uint8 and not x.is_floating_point():
        raise DataError(f"expected uint8 pixels (0-255) or floats in [0, 1], got dtype {x.dtype}")
    if x.is_floating_point() and len(x) and (x.min() < 0 or x.max() > 1 or not x.isfinite().all()):
        raise DataError(f"a float tensor must hold pixels in [0, 1] (got {float(x.min()):.3g} to "
                        f"{float(x.max()):.3g}); pass uint8 for 0-255")
    return x


def embed(model: str | Path | ViT, inputs: list[str | Path] | torch.Tensor, *, tokens: bool = False,
          per_step: bool = False, batch_size: int = 256) -> np.ndarray:
    """Embeddings of image, video, sound, point-cloud or text files (text runs also take texts as they are), or
    of a ``(N, C, H, W)`` / ``(N, C, T, H, W)`` tensor (uint8 in 0-255 or float in [0, 1], left unchanged):
    ``(N, D)`` mean-pooled, or ``(N, L, D)`` token features with ``tokens=True``. Video encoders read
    the centred clip of each file at the encoder's clip length and frame size; ``per_step`` encodes each
    time step of a clip on its own, as ``eval.tokens: step`` does."""
    if batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
    vit = load(model) if not isinstance(model, ViT) else model
    if per_step and not vit.reads_clips:
        raise DataError("per-step embeddings need a video encoder; this one reads images")
    x = read_inputs(vit, inputs)
    if isinstance(vit, TextEncoder):
        return text_embeddings(vit, x, pool=not tokens, batch_size=batch_size).numpy()
    net = StepwiseEncoder(vit) if per_step else vit
    return encoder_features(net, _normalize_for(vit), x, pool=not tokens, batch_size=batch_size).numpy()


def export_hf(run: str | Path, out: str | Path, *, encoder: str | None = None) -> Path:
    """Write the image encoder of ``run`` as an HF I-JEPA folder at ``out`` (new or empty): ``config.json``,
    ``model.safetensors``, ``preprocessor_config.json``. Written beside ``out`` and renamed into place, so a failure
    leaves nothing behind."""
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(f"--out {out} is not empty (or is a file); export-hf writes a new folder (nothing was "
                          f"written)")
    vit = load(run, encoder=encoder)
    if vit.reads_clips:
        raise ConfigError(f"{run} encodes video clips; export-hf writes HF I-JEPA folders, which hold image encoders "
                          f"(image runs, and world models on frames)")
    partial = out.with_name(f".{out.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        export_hf_ijepa(backbone_of(vit), partial, vit.input_mean, vit.input_std)
        if out.exists():
            out.rmdir()
        partial.rename(out)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return out


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
    path = Path(model)
    hf = is_hf_vjepa2_folder(path)
    if hf:
        vit, predictor = load_hf_vjepa2(path)
        vit.input_spec = hf_vjepa2_input_spec(vit)
        normalize = _normalize_for(vit)
    else:
        cfg, method = load_trained_method(path)
        if not isinstance(method, PredictsTargets) or not method.encoder.reads_clips:
            raise TrainingError(f"{path} is not a video JEPA run with a predictor (method {cfg.method.name})")
        vit, normalize = method.encoder, method.normalize
        vit.input_spec = cfg.spec
    if context is None or target is None:
        context, target = future_split(vit.grid, context_steps or vit.grid[0] // 2)
    clips = normalize(as_unit_float(read_inputs(vit, videos)))
    ctx, tgt = context.expand(len(clips), -1), target.expand(len(clips), -1)
    if hf:
        features, pred = predict_like_hf(vit, predictor, clips, ctx, tgt)
    else:
        with torch.no_grad():
            features, pred = method.eval_encoder("target")(clips), method.predict_targets(clips, ctx, tgt)
    return features.numpy(), pred.numpy(), context, target


def _pair_inputs(run: str | Path, x, y) -> tuple[torch.Tensor, torch.Tensor]:
    """x and y as tensors: given, or files read as the run's encoder reads them."""
    if torch.is_tensor(x) and torch.is_tensor(y):
        return x, y
    vit = load(run)
    return read_inputs(vit, x), read_inputs(vit, y)


def energy(run: str | Path, x, y, *, actions: torch.Tensor | None = None) -> torch.Tensor:
    """E(x, y, z) of pairs under a run's predictor, ``(B, R)``: one column per starting latent (every code of a
    discrete z, z = 0 for a continuous one; one column without z). Low: compatible.

    Image runs: x's left half of token columns predicts y's right half; video runs: x's first half of time steps
    predicts y's second half (x and y: files or tensors of one shape, uint8 or floats in [0, 1]); world models:
    frames ``x (B, C, H, W)`` (or histories ``(B, C, h, H, W)``) and ``actions (B, h, A)`` predict the next frames
    ``y``."""
    return pair_energies(run, *_pair_inputs(run, x, y), actions, free=False)


def free_energy(run: str | Path, x, y, *, actions: torch.Tensor | None = None) -> torch.Tensor:
    """F(x, y) = min_z E(x, y, z) per pair ``(B,)`` (E itself for a run without z); pairs as for :func:`energy`."""
    return pair_energies(run, *_pair_inputs(run, x, y), actions, free=True)


def train(recipe: str | RunConfig | None, out: str | Path, *, overrides: list[str] | None = None,
          resume: bool = False, progress: bool = True, allow_data_change: bool = False) -> Path:
    """Train a recipe (name, YAML path or RunConfig) into ``out``; ``resume=True`` continues ``out`` (the recipe
    is then ignored; data other than the run started on stop it unless ``allow_data_change``)."""
    if resume:
        return fit(None, out, resume=True, progress=progress, allow_data_change=allow_data_change)
    cfg = recipe if isinstance(recipe, RunConfig) else build_config(recipe_dict(recipe), overrides)
    return fit(cfg, out, progress=progress)


def evaluate(run: str | Path, data: str | None = None, *, encoder: str | None = None, out: str | Path | None = None,
             settings: list[str] = ()) -> dict:
    """Run a run's evaluation tasks (trained vs random init vs raw input, ...); writes ``RUN/eval.json`` (one on
    other data or settings goes beside it, to ``RUN/evals/``, or to ``out``). ``encoder`` (``target``/``context``)
    overrides the run's ``eval.encoder``, ``settings`` (``eval.KEY=VALUE``) its other evaluation settings."""
    return evaluate_run(run, data, encoder=encoder, out=out, settings=settings).results


def fit_predictor(run: str | Path, out: str | Path, *, steps: int = 6000, data: str | None = None, lr: float = 1e-3,
                  batch_size: int = 64, seed: int = 0, progress: bool = True) -> Path:
    """A new run at ``out``: the video run at ``run`` with its predictor trained ``steps`` more steps on the future
    of clips from ``data`` (default: the run's dataset), encoders frozen (``method.objective: future``; AdamW,
    ``lr`` after a warmup over the first 5% of the steps, then a cosine to 0; a predictor's latent z learns with
    it). A recipe on the one training loop: the new run's config is the old run's with these changes, and it
    resumes like any run."""
    run = Path(run)
    source = load_run_config(run)
    method = build_method(source)
    if not isinstance(method, PredictsTargets) or not method.encoder.reads_clips:
        raise TrainingError(f"{run} is a '{source.method.name}' run; fit-predictor needs a video JEPA (vjepa recipes)")
    warmup = steps // 20
    learns = ["predictor", "latent"] if method.latent.active else ["predictor"]
    overrides = {
        "init": {"run": str(run), "what": "all"},
        "method": {"objective": "future", "flips": "none", "target": {"mode": "frozen"}},
        "train": {"trainable": learns, "steps": steps, "minutes": None, "stop_at": None, "seed": seed,
                  "batch_size": batch_size},
        "optim": {"lr": lr, "start_lr": lr / max(1, warmup), "final_lr": 0.0, "warmup_steps": warmup,
                  "schedule": "cosine", "weight_decay": [0.04, 0.04]},
        "data": {"dataset": data or source.data.dataset},
        "spec": None,
    }
    return fit(build_config(config_dict(source), overrides), out, progress=progress)


def flow(run: str | Path, video: str | Path | torch.Tensor, *, frames: int | None = None) -> np.ndarray:
    """Optical flow ``(T - 1, 2, H, W)`` in pixels (dx, dy: where each pixel of a frame goes in the next) between
    consecutive frames of a video file (its first ``frames``, default all) or a uint8 clip ``(3, T, H, W)``, by an
    MC-JEPA run; frames are resized and centre-cropped to the run's frame size first."""
    from openjepa.data.video_io import probe, read_clip

    cfg, method = load_trained_method(run)
    if not hasattr(method, "flow"):
        raise TrainingError(f"{run} is a '{cfg.method.name}' run; flow needs a run that estimates flow (mcjepa)")
    size = cfg.spec.size
    if isinstance(video, torch.Tensor):
        clip = checked_tensor(video[None], cfg.spec.channels, clips=True)[0]
        if clip.dtype != torch.uint8 or tuple(clip.shape[-2:]) != tuple(size):
            raise DataError(f"expected a uint8 clip (3, T, {size[0]}, {size[1]}), got {clip.dtype} {tuple(clip.shape)}")
    else:
        count = frames or probe(video)["frames"]
        clip = read_clip(video, max(count, 2), start=0, size=size[0])
    if clip.shape[1] < 2:
        raise DataError(f"flow needs at least 2 frames, got {clip.shape[1]}")
    return method_flows(method.flow, clip[None], torch.device("cpu"))[0].numpy()


def fill(run: str | Path, sentence: str, *, k: int = 5) -> list[tuple[str, float]]:
    """The ``k`` words a text JEPA run guesses for the blank (a word of underscores, e.g. ``___``) of ``sentence``,
    nearest first, with their cosine similarity to the predicted embedding."""
    cfg, method = load_trained_method(run)
    if getattr(method, "word_encoder", None) is None:
        raise TrainingError(f"{run} is a '{cfg.method.name}' run without a word table; fill needs a text JEPA run "
                            f"whose targets are words (textjepa, method.targets=words)")
    vocab = method.vocab
    words = [w for w in (w.strip(".,;:!?\"'").lower() for w in sentence.split()) if w]
    blanks = [i for i, w in enumerate(words) if set(w) == {"_"}]
    if len(blanks) != 1:
        raise DataError(f"expected one blank (a word of underscores, e.g. ___) in the sentence, found {len(blanks)}")
    length = cfg.spec.size[1]
    if len(words) > length:
        raise DataError(f"the sentence has {len(words)} words; the run reads at most {length}")
    text = " ".join(MASK if i == blanks[0] else w for i, w in enumerate(words))
    ids = WordTokenizer(vocab).encode([text], length)
    with torch.no_grad():
        scores = method.word_scores(method.predict(ids, torch.tensor(blanks)))[0]
    top = scores.topk(min(k, len(vocab) - len(SPECIAL)))
    return [(vocab[i], float(s)) for s, i in zip(top.values.tolist(), top.indices.tolist())]


def caption(run: str | Path, images: list[str | Path] | torch.Tensor, *, k: int = 5,
            captions: list[str] | None = None) -> list[list[tuple[str, float]]]:
    """The ``k`` captions nearest to what a VL-JEPA run predicts for each image (files, or a uint8 tensor
    ``(N, C, H, W)``), with their cosine, nearest first. ``captions``: the texts to choose from (default: the
    distinct captions of the run's training and test data, read again)."""
    cfg, method = load_trained_method(run)
    if not isinstance(method, EmbedsText):
        raise TrainingError(f"{run} is a '{cfg.method.name}' run; caption needs a run that maps images to text "
                            f"embeddings (vljepa)")
    spec = cfg.spec
    if torch.is_tensor(images):
        pixels = checked_tensor(images, spec.channels, clips=False)
        if pixels.dtype != torch.uint8 or tuple(pixels.shape[-2:]) != tuple(spec.size):
            raise DataError(f"expected uint8 images (N, {spec.channels}, {spec.size[0]}, {spec.size[1]}), got "
                            f"{pixels.dtype} {tuple(pixels.shape)}")
    else:
        paths = [images] if isinstance(images, (str, Path)) else list(images)
        if not paths:
            raise DataError("no images given to caption")
        pixels = MODALITIES.get(spec.modality)().read_files(paths, spec)
    if captions is None:
        data = load_data(cfg.data, spec)
        captions = list(dict.fromkeys(c for split in (data.train, data.test) for options in split.captions
                                      for c in options))
    captions = [c.strip() for c in captions if c.strip()]
    if not captions:
        raise DataError("no captions to choose from: expected at least one non-empty text")
    return nearest_captions(method, pixels, captions, k)
