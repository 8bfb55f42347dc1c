"""Point clouds: ``(P, 3)`` float32 clouds centred in the unit sphere, fed to the encoder channels-first
``(B, 3, P)``; tokens are groups of neighbouring points (:class:`~openjepa.modalities.point_tokens.PointCloudEmbed`);
probes (linear, kNN, low-shot, linear SVM) beside the random init and an occupancy grid."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from openjepa.core.config import check_minimums
from openjepa.core.errors import ConfigError, DataError
from openjepa.core.spec import InputSpec
from openjepa.data.point_files import POINT_SUFFIXES, read_points
from openjepa.data.point_folder import load_point_folder
from openjepa.data.points import PointData
from openjepa.modalities.base import Modality
from openjepa.modalities.image import ImageEvalConfig
from openjepa.modalities.point_tokens import PointCloudEmbed
from openjepa.modalities.registry import MODALITIES
from openjepa.nn.vit import ViT, ViTConfig


@dataclass
class PointDataConfig:
    """Where clouds come from and how they are cut into tokens.

    ``dataset``: a built-in point dataset (``shapes3d``) or a folder of ``.ply|off|obj|stl`` meshes (sampled on
    their surface) and ``.xyz|txt|pts|npy|npz`` point files, in class folders, ``train/`` + ``test/``, or ModelNet's
    ``<class>/train`` + ``<class>/test``. Every cloud is centred, scaled to the unit sphere and brought to
    ``points`` points. Tokens: ``groups`` farthest-point-sampled centres with their ``group_size`` nearest points
    each, through a small PointNet whose layers have ``point_net`` widths (Point-MAE's: 128, 256, 512; tiny
    recipes use less: the PointNet runs on every point of every group and dominates a CPU step).
    ``test_fraction``/``split_seed``: the stratified split of a folder without one; ``skip_corrupt``: skip
    unreadable files (with a warning). ``cache``: keep the decoded clouds of a folder in openjepa's cache folder.
    ``mean``/``std``: per-axis mean and one shared scale, measured on the training clouds when a run starts.
    """

    modality: Literal["points"] = "points"
    dataset: str = "shapes3d"
    points: int = 1024
    groups: int = 64
    group_size: int = 32
    point_net: tuple[int, int, int] = (128, 256, 512)
    test_fraction: float = 0.2
    split_seed: int = 0
    skip_corrupt: bool = False
    cache: bool = True
    mean: list[float] | None = None
    std: list[float] | None = None

    def validate(self) -> None:
        check_minimums("data", self, points=1, groups=1, group_size=1)
        if len(self.point_net) != 3 or min(self.point_net) < 1:
            raise ValueError(f"data.point_net: expected three positive layer widths, got {list(self.point_net)}")
        if self.points < max(self.groups, self.group_size):
            raise ValueError(f"data.points ({self.points}) must be at least data.groups ({self.groups}) and "
                             f"data.group_size ({self.group_size})")
        if not 0 <= self.test_fraction < 1:
            raise ValueError(f"data.test_fraction must be in [0, 1), got {self.test_fraction}")

    def reader(self) -> dict:
        return {"points": self.points, "groups": self.groups, "group_size": self.group_size,
                "point_net": list(self.point_net)}


@dataclass
class PointCloudData(PointData):
    """Clouds of both splits, and the reader settings (points per cloud, groups) that made and cut them."""

    reader: dict | None = None


def channels_first(clouds: torch.Tensor) -> torch.Tensor:
    """Clouds ``(N, P, 3)`` -> the encoder's inputs ``(N, 3, P)`` float32."""
    return clouds.float().transpose(1, 2).contiguous()


@MODALITIES.register("points")
class PointModality(Modality):
    name = "points"
    data_config = PointDataConfig
    eval_config = ImageEvalConfig
    eval_tasks = ("point_probes",)
    file_suffixes = POINT_SUFFIXES

    def load(self, cfg: PointDataConfig, spec: InputSpec | None = None) -> PointCloudData:
        """Both splits in memory, at ``spec``'s points per cloud when given (a trained run's)."""
        if spec is not None:
            cfg = replace(cfg, **spec.reader)
        data = self.builtin(cfg) or self._folder(cfg)
        return PointCloudData(data.name, data.train, data.test, cfg.reader())

    def _folder(self, cfg: PointDataConfig) -> PointData:
        root = self.data_folder(cfg, "class folders of point files or meshes")
        return load_point_folder(root, points=cfg.points, min_points=cfg.group_size, test_fraction=cfg.test_fraction,
                                 seed=cfg.split_seed, skip_corrupt=cfg.skip_corrupt, cache=cfg.cache)

    def spec(self, data: PointData) -> InputSpec:
        return InputSpec(modality=self.name, channels=3, size=(1, data.num_points), reader=dict(data.reader))

    def build_encoder(self, config: ViTConfig, spec: InputSpec) -> ViT:
        if config.tubelet is not None:
            raise ConfigError("encoder.tubelet is set, but point clouds are cut into groups of points: remove it")
        if config.pos_embed != "none":
            raise ConfigError("point-cloud tokens carry the embedding of their group's centre: set "
                              "encoder.pos_embed: none")
        reader = spec.reader
        tokenizer = PointCloudEmbed(config.resolved()[0], reader["groups"], reader["group_size"],
                                    tuple(reader["point_net"]))
        return ViT(config, tokenizer, (reader["points"],))

    def prepare(self, samples: torch.Tensor) -> torch.Tensor:
        """Stacked clouds ``(B, P, 3)`` -> ``(B, 3, P)``."""
        return channels_first(samples)

    def read_files(self, paths: list[str | Path], spec: InputSpec) -> torch.Tensor:
        """Point or mesh files -> ``(N, 3, points)`` clouds, read as the run's data were."""
        if not paths:
            raise DataError("no point files given to embed")
        reader = spec.reader
        clouds = [read_points(p, reader["points"], min_points=reader["group_size"]) for p in paths]
        return channels_first(torch.from_numpy(np.stack(clouds)))
