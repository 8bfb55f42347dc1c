"""Trajectories: windows of frames ``(C, T, H, W)`` from a trajectory store, with the actions taken and the
states seen (``openjepa collect`` writes stores; :mod:`openjepa.data.trajectories.store` documents the format).
Each frame is encoded on its own by an image encoder; world-model methods add their own evaluation tasks."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch

from openjepa.core.config import check_minimums
from openjepa.core.errors import ConfigError, DataError
from openjepa.core.spec import InputSpec
from openjepa.data.trajectories.windowset import TrajectoryData, is_trajectory_store, load_trajectory_data
from openjepa.modalities.base import Modality
from openjepa.modalities.image import ImageModality
from openjepa.modalities.registry import MODALITIES
from openjepa.nn.vit import ViT, ViTConfig


@dataclass
class TrajectoryDataConfig:
    """``dataset``: a trajectory store (``openjepa collect ... --out PATH``). ``frames``: model steps per training
    window; ``frame_step``: environment steps between them (the frameskip: each model step's action is the
    ``frame_step`` actions that follow its frame). Episodes are split into train and test by ``test_fraction``
    (seeded by ``split_seed``). ``mean``/``std``: per-channel normalisation of the frames, measured when a run starts.
    """

    modality: Literal["trajectory"] = "trajectory"
    dataset: str = ""
    frames: int = 4
    frame_step: int = 1
    test_fraction: float = 0.1
    split_seed: int = 0
    mean: list[float] | None = None
    std: list[float] | None = None

    def validate(self) -> None:
        check_minimums("data", self, frames=2, frame_step=1)
        if not 0 <= self.test_fraction < 1:
            raise ValueError(f"data.test_fraction must be in [0, 1), got {self.test_fraction}")


@dataclass
class TrajectoryEvalConfig:
    """``encoder``: which network to evaluate where a method has two. ``readout_frames``: frames of the training
    episodes the state readouts are fitted on (a quarter as many held-out ones score them). ``tasks``: the
    evaluation tasks to run (default: the method's own)."""

    encoder: Literal["target", "context"] = "target"
    readout_frames: int = 4000
    tasks: list[str] | None = None

    def validate(self) -> None:
        check_minimums("eval", self, readout_frames=1)


@MODALITIES.register("trajectory")
class TrajectoryModality(Modality):
    name = "trajectory"
    data_config = TrajectoryDataConfig
    eval_config = TrajectoryEvalConfig
    file_suffixes = ImageModality.file_suffixes

    def load(self, cfg: TrajectoryDataConfig, spec: InputSpec | None = None) -> TrajectoryData:
        path = Path(cfg.dataset).expanduser()
        if not is_trajectory_store(path):
            raise DataError(f"this recipe trains on trajectories, but '{cfg.dataset}' is not a trajectory store; "
                            f"record one with `openjepa collect tworoom --out PATH` and pass --data PATH")
        frames = cfg.frames if spec is None else spec.frames
        if frames < 2:
            raise DataError(f"{cfg.dataset} is a trajectory store: set data.frames (model steps per training window, "
                            f">= 2) and data.frame_step (the frameskip), as the lewm recipes do")
        return load_trajectory_data(path, steps=frames, frameskip=cfg.frame_step, test_fraction=cfg.test_fraction,
                                    seed=cfg.split_seed)

    def spec(self, data: TrajectoryData) -> InputSpec:
        return InputSpec(modality=self.name, channels=data.channels, size=tuple(data.image_size), frames=data.frames,
                         action_dim=data.action_dim, state_dim=data.store.state_dim, goal_dim=data.store.goal_dim)

    def build_encoder(self, config: ViTConfig, spec: InputSpec) -> ViT:
        """An image encoder for single frames (a video encoder comes frozen from another run, ``--encoder RUN``)."""
        if config.tubelet is not None:
            raise ConfigError("trajectory runs encode frames one by one with an image encoder: remove encoder.tubelet "
                            "(a video encoder can be used frozen, taken from its run with --encoder RUN)")
        return ImageModality().build_encoder(config, self._frames(spec))

    def read_files(self, paths: list[str | Path], spec: InputSpec) -> torch.Tensor:
        """Image files as frames ``(N, C, H, W)``."""
        return ImageModality().read_files(paths, self._frames(spec))

    @staticmethod
    def _frames(spec: InputSpec) -> InputSpec:
        """The spec of one frame: an image."""
        return InputSpec(channels=spec.channels, size=spec.size)
