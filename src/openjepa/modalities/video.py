"""Video: ``(C, T, H, W)`` uint8 clips, 3-D tubelet tokens, attentive probes (and dense probes where the data has
sprite masks)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

import torch

from openjepa.core.config import check_minimums
from openjepa.core.errors import ConfigError, DataError
from openjepa.core.spec import InputSpec
from openjepa.data.augment import Flips
from openjepa.data.clips import VideoData
from openjepa.data.video_folder import load_video_folder
from openjepa.data.video_io import VIDEO_SUFFIXES
from openjepa.modalities.base import Modality
from openjepa.modalities.registry import MODALITIES
from openjepa.modalities.tubelets import TubeletEmbed3d
from openjepa.nn.vit import ViT, ViTConfig


@dataclass
class VideoDataConfig:
    """Where clips come from and how they are cut.

    ``dataset``: a built-in video dataset (``sprites`` with a third of the clips in a corridor, ``sprites_walls`` with
    every clip in one, ``sprites_no_walls`` with none, ``sprites_noisy``: those clips with camera noise,
    ``sprites_pan``: with a panning camera), a folder of class folders of ``*.mp4|avi|webm|mkv|mov`` (optionally under
    ``train/`` and ``test/``), or a list file of ``path label`` lines. ``frames``: clip length; ``frame_step``: take
    every k-th decoded frame, or ``fps``: resample to this rate. ``image_size``: frames are resized (shorter side) and
    centre-cropped to it (built-ins: drawn at it, default 32). ``train_size``: how many training clips a generated
    built-in holds (default 6000; its 1000 test clips stay the same); datasets read from files have the size they have
    and ignore it, so a recipe that sets it still trains on ``--data PATH``. ``skip_corrupt``: skip unreadable files
    (with a warning) instead of stopping. ``mean``/``std``: per-channel normalisation, measured on the training clips
    when a run starts.
    """

    modality: Literal["video"] = "video"
    dataset: str = "sprites"
    frames: int = 16
    frame_step: int = 1
    fps: float | None = None
    image_size: int | None = None
    train_size: int | None = None
    test_fraction: float = 0.2
    split_seed: int = 0
    skip_corrupt: bool = False
    mean: list[float] | None = None
    std: list[float] | None = None

    def validate(self) -> None:
        check_minimums("data", self, frames=1, frame_step=1, image_size=1)
        if self.fps is not None and self.fps <= 0:
            raise ValueError(f"data.fps must be > 0, got {self.fps}")
        if not 0 <= self.test_fraction < 1:
            raise ValueError(f"data.test_fraction must be in [0, 1), got {self.test_fraction}")
        if self.train_size is not None and self.train_size < 1:
            raise ValueError(f"data.train_size must be at least 1 clip, got {self.train_size}")


@dataclass
class VideoEvalConfig:
    """``encoder``: which network to evaluate (the target, or the context encoder). Attentive probes
    (``attentive_*``: V-JEPA's with 0 self-attention layers, V-JEPA 2's with 3) train on the final-layer tokens to
    predict ``label`` (default: the dataset's primary label).
    ``max_train``: at most this many training clips are probed. ``test_clips``: clips per test video
    (evenly spaced; probabilities averaged) where videos are files longer than a clip. ``probe_flips``: the
    attentive probes train on every training clip under each of these flips (one drawn per clip and epoch, as
    V-JEPA's probe trains on augmented clips). The sprites turn their labels with the clip; a folder of videos
    keeps its class labels, taken to be unchanged by the flips. Each flip costs one pass of the encoder over the
    training clips and one copy of their features. ``tokens``: ``clip`` encodes a clip's tokens together; ``step``
    encodes each tubelet time step on its own, at its own positions (as a one-step context is encoded in
    training), and concatenates the steps' tokens; the random init and the single frame are encoded the same way.
    ``probe_seeds``: each attentive probe trains from this many seeds (initialisation, batch order, validation split)
    and reports their mean accuracy; the single accuracies are kept under ``attentive_seeds``.
    ``attentive_warmups``: the attentive probe's warmup (a fraction of its steps) is picked from these on a held-out
    tenth of the training clips, for each encoder on its own; empty: the probe's default (none for V-JEPA's probe,
    a tenth for V-JEPA 2's). ``tasks``: the evaluation tasks to run (default: the video probes and the method's
    own)."""

    encoder: Literal["target", "context"] = "target"
    max_train: int | None = None
    label: str | None = None
    attentive_layers: int = 0
    attentive_epochs: int = 10
    attentive_weight_decay: float = 0.01
    video_batch_size: int = 64
    test_clips: int = 2
    probe_flips: Flips = "none"
    tokens: Literal["clip", "step"] = "clip"
    probe_seeds: int = 1
    attentive_warmups: list[float] = field(default_factory=list)
    tasks: list[str] | None = None

    def validate(self) -> None:
        check_minimums("eval", self, max_train=1)
        if self.probe_seeds < 1:
            raise ValueError(f"eval.probe_seeds: expected at least 1 seed, got {self.probe_seeds}")
        if any(not 0 <= w < 1 for w in self.attentive_warmups):
            raise ValueError(f"eval.attentive_warmups: expected fractions of the probe's steps in [0, 1), "
                             f"got {self.attentive_warmups}")


def read_clips(paths: list[str | Path], frames: int, size: int) -> torch.Tensor:
    """Video files -> uint8 ``(N, 3, frames, size, size)``: the centred clip of each, resized and centre-cropped."""
    from openjepa.data.video_io import read_clip

    if not paths:
        raise DataError("no videos given to embed")
    return torch.stack([read_clip(p, frames, size=size) for p in paths])


@MODALITIES.register("video")
class VideoModality(Modality):
    name = "video"
    data_config = VideoDataConfig
    eval_config = VideoEvalConfig
    eval_tasks = ("video_probes",)
    file_suffixes = frozenset(VIDEO_SUFFIXES)

    def load(self, cfg: VideoDataConfig, spec: InputSpec | None = None) -> VideoData:
        """Built-in clips in memory, or video files decoded as they are read; at ``spec``'s clip length and frame
        size when given."""
        if spec is not None:
            cfg = replace(cfg, frames=spec.frames, image_size=spec.size[0])
        data = self.builtin(cfg)
        if data is not None:
            return data
        if not cfg.dataset:
            raise DataError("data.dataset is not set: pass --data PATH (a folder of class folders of videos) or a "
                            "built-in name")
        self.refuse_store(Path(cfg.dataset).expanduser())
        if cfg.image_size is None:
            raise DataError("video folders need data.image_size (clips are resized and centre-cropped to it)")
        return load_video_folder(Path(cfg.dataset).expanduser(), frames=cfg.frames, frame_step=cfg.frame_step,
                                 fps=cfg.fps, size=cfg.image_size, test_fraction=cfg.test_fraction,
                                 seed=cfg.split_seed, skip_corrupt=cfg.skip_corrupt)

    def spec(self, data: VideoData) -> InputSpec:
        return InputSpec(modality=self.name, channels=data.channels, size=tuple(data.frame_size), frames=data.frames)

    def build_encoder(self, config: ViTConfig, spec: InputSpec) -> ViT:
        if config.tubelet is None:
            raise ConfigError("video runs cut clips into tubelets: set encoder.tubelet (e.g. 2), as the vjepa recipes "
                              "do")
        width = config.resolved()[0]
        tokenizer = TubeletEmbed3d(spec.channels, width, config.patch_size, config.tubelet)
        return ViT(config, tokenizer, (spec.frames, *spec.size))

    def read_files(self, paths: list[str | Path], spec: InputSpec) -> torch.Tensor:
        return read_clips(paths, spec.frames, spec.size[0])
