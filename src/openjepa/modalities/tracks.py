"""Tracks: clips ``(C, T, H, W)`` of a moving agent with its position at every frame (:mod:`openjepa.data.tracks`);
a forecaster reads the first ``observed`` frames, each encoded on its own by an image encoder, and forecasts the
agent's positions over the rest."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from openjepa.core.config import check_minimums
from openjepa.core.errors import ConfigError, DataError
from openjepa.core.spec import InputSpec
from openjepa.data.tracks import TrackData
from openjepa.modalities.base import Modality
from openjepa.modalities.image import ImageModality
from openjepa.modalities.registry import MODALITIES
from openjepa.nn.vit import ViT, ViTConfig


@dataclass
class TrackDataConfig:
    """``dataset``: the built-in ``goal_agents`` (:mod:`openjepa.data.goal_agents`): ``train_size`` training and
    ``test_size`` test clips of ``observed`` seen and ``horizon`` forecast frames at ``image_size`` px, with
    ``goals`` goal markers, the agent's marked in the first ``cue_frames`` frames only. ``mean``/``std``:
    per-channel normalisation, measured on the training clips when a run starts."""

    modality: Literal["tracks"] = "tracks"
    dataset: str = "goal_agents"
    train_size: int = 8000
    test_size: int = 1000
    observed: int = 16
    horizon: int = 8
    image_size: int = 32
    goals: int = 4
    cue_frames: int = 2
    mean: list[float] | None = None
    std: list[float] | None = None

    def validate(self) -> None:
        check_minimums("data", self, train_size=1, test_size=1, observed=2, horizon=1, image_size=4, goals=2,
                       cue_frames=1)
        if self.cue_frames >= self.observed:
            raise ValueError(f"data.cue_frames ({self.cue_frames}) must be fewer than data.observed "
                             f"({self.observed}): the cue shows in the earliest frames only")


@dataclass
class TrackEvalConfig:
    """``encoder``: which network ``embed`` reads where a method has two. ``batch_size``: test clips forecast at
    once; ``shown``: test clips drawn in ``plots/forecasts.png``. ``tasks``: the evaluation tasks to run (default:
    the method's own)."""

    encoder: Literal["target", "context"] = "target"
    batch_size: int = 250
    shown: int = 4
    tasks: list[str] | None = None

    def validate(self) -> None:
        check_minimums("eval", self, batch_size=1, shown=1)


@MODALITIES.register("tracks")
class TrackModality(Modality):
    name = "tracks"
    data_config = TrackDataConfig
    eval_config = TrackEvalConfig
    file_suffixes = ImageModality.file_suffixes

    def load(self, cfg: TrackDataConfig, spec: InputSpec | None = None) -> TrackData:
        """Both splits, at ``spec``'s frame size and observed frames and horizon when given (a trained run's)."""
        if spec is not None:
            observed = spec.reader["observed"]
            cfg = replace(cfg, image_size=spec.size[0], observed=observed, horizon=spec.frames - observed)
        data = self.builtin(cfg)
        if data is None:
            raise DataError(f"'{cfg.dataset}' is not a built-in track dataset; the tracks modality reads the "
                            f"built-in 'goal_agents' (clips of users' own are not supported yet)")
        return data

    def spec(self, data: TrackData) -> InputSpec:
        return InputSpec(modality=self.name, channels=data.channels, size=tuple(data.frame_size), frames=data.frames,
                         reader={"observed": data.observed, "cue_frames": data.cue_frames})

    def build_encoder(self, config: ViTConfig, spec: InputSpec) -> ViT:
        """An image encoder for single frames (a video encoder can come frozen from another run, ``--encoder``)."""
        if config.tubelet is not None:
            raise ConfigError("track runs encode frames one by one with an image encoder: remove encoder.tubelet (a "
                              "video encoder can be used frozen, taken from its run with --encoder RUN)")
        return ImageModality().build_encoder(config, InputSpec(channels=spec.channels, size=spec.size))

    def read_files(self, paths, spec: InputSpec):
        """Image files as frames ``(N, C, H, W)``."""
        return ImageModality().read_files(paths, InputSpec(channels=spec.channels, size=spec.size))
