"""Objects: scenes read as one slot per object per frame (Causal-JEPA). The slots come from a frozen object-centric
encoder run when the data are loaded (:mod:`openjepa.data.object_slots`: mask pooling with the masks given), so a
sample is a window of slots ``(F, T, N)``, channels first, and the run's "encoder" only lays them out as tokens
``(B, T * N, F)`` (time-major) for whoever reads features (``embed``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from openjepa.core.config import check_minimums
from openjepa.core.errors import ConfigError, DataError
from openjepa.core.spec import InputSpec
from openjepa.data.scenes import SceneData
from openjepa.modalities.base import Modality
from openjepa.modalities.registry import MODALITIES
from openjepa.nn.vit import ViTConfig


@dataclass
class ObjectDataConfig:
    """``dataset``: the built-in ``balls`` (elastic balls in a box, :mod:`openjepa.data.bouncing_balls`):
    ``scenes`` training and ``test_scenes`` test scenes of ``balls`` balls over ``scene_frames`` frames, rendered
    at ``image_size`` px for the slot encoder. ``window``: frames per training sample (history and future
    together). ``mean``/``std``: per slot feature, measured on the training slots when a run starts."""

    modality: Literal["objects"] = "objects"
    dataset: str = "balls"
    scenes: int = 2000
    test_scenes: int = 400
    scene_frames: int = 32
    balls: int = 4
    image_size: int = 32
    window: int = 11
    mean: list[float] | None = None
    std: list[float] | None = None

    def validate(self) -> None:
        check_minimums("data", self, scenes=1, test_scenes=1, scene_frames=2, balls=1, image_size=4, window=2)
        if self.window > self.scene_frames:
            raise ValueError(f"data.window ({self.window}) must not exceed data.scene_frames ({self.scene_frames})")


@dataclass
class ObjectEvalConfig:
    """``horizon``: future frames scored after a collision; ``windows``: test windows scored at most;
    ``counterfactuals``: test scenes re-simulated without one ball. ``tasks``: the evaluation tasks to run
    (default: the method's own)."""

    encoder: Literal["target", "context"] = "target"
    horizon: int = 5
    windows: int = 2000
    counterfactuals: int = 200
    tasks: list[str] | None = None

    def validate(self) -> None:
        check_minimums("eval", self, horizon=1, windows=1, counterfactuals=1)


class SlotTokens(nn.Module):
    """Slots ``(B, F, T, N)`` -> tokens ``(B, T * N, F)``, time-major; ``width`` F, ``grid`` (T, N)."""

    def __init__(self, features: int, frames: int, objects: int):
        super().__init__()
        self.width, self.grid = features, (frames, objects)

    def forward(self, slots: torch.Tensor) -> torch.Tensor:
        return slots.flatten(2).transpose(1, 2)


@MODALITIES.register("objects")
class ObjectModality(Modality):
    name = "objects"
    data_config = ObjectDataConfig
    eval_config = ObjectEvalConfig

    def load(self, cfg: ObjectDataConfig, spec: InputSpec | None = None) -> SceneData:
        data = self.builtin(cfg)
        if data is None:
            raise DataError(f"'{cfg.dataset}' is not a built-in object dataset; the objects modality reads the "
                            f"built-in 'balls' (scenes of users' own come as a trajectory store with object masks: "
                            f"not yet supported)")
        return data

    def spec(self, data: SceneData) -> InputSpec:
        return InputSpec(modality=self.name, channels=data.channels, size=(1, data.objects),
                         frames=data.train.window, reader={"objects": data.objects})

    def build_encoder(self, config: ViTConfig, spec: InputSpec) -> SlotTokens:
        """The slots as tokens: the object-centric encoder ran when the data were loaded, frozen."""
        if config.tubelet is not None:
            raise ConfigError("encoder.tubelet is set, but object runs read slots, not frames: remove it")
        return SlotTokens(spec.channels, spec.frames, spec.reader["objects"])

    def prepare(self, samples: torch.Tensor) -> torch.Tensor:
        """Stacked slot windows, already float: as they are."""
        return samples.float()
