"""In-memory point-cloud splits: float32 clouds of one size, integer labels, class names."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class PointSet:
    """One split: ``points`` float32 ``(N, P, 3)`` (each cloud centred, inside the unit sphere), ``labels`` int64
    ``(N,)`` (-1 = unlabeled)."""

    points: torch.Tensor
    labels: torch.Tensor
    classes: list[str]

    def __post_init__(self) -> None:
        if self.points.ndim != 3 or self.points.shape[2] != 3 or self.points.dtype != torch.float32:
            raise ValueError(f"points must be float32 (N, P, 3), got {self.points.dtype} {tuple(self.points.shape)}")
        if len(self.labels) != len(self.points):
            raise ValueError(f"{len(self.points)} clouds but {len(self.labels)} labels")

    def __len__(self) -> int:
        return len(self.points)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.points[index], int(self.labels[index])

    @property
    def labeled(self) -> bool:
        return bool(len(self.labels)) and bool((self.labels >= 0).all())

    def subset(self, index: np.ndarray | torch.Tensor) -> PointSet:
        index = torch.as_tensor(index, dtype=torch.long)
        return PointSet(self.points[index], self.labels[index], self.classes)


@dataclass
class PointData:
    """A dataset as train and test splits of clouds with the same number of points."""

    name: str
    train: PointSet
    test: PointSet

    def __post_init__(self) -> None:
        if len(self.test) and self.train.points.shape[1] != self.test.points.shape[1]:
            raise ValueError(f"{self.name}: train clouds have {self.train.points.shape[1]} points, test clouds "
                             f"{self.test.points.shape[1]}")

    @property
    def num_points(self) -> int:
        return self.train.points.shape[1]

    @property
    def channels(self) -> int:
        return 3

    def channel_stats(self) -> tuple[list[float], list[float]]:
        """Per-axis mean of the training points and one std shared by the three axes (the RMS of the centred
        coordinates), so normalising keeps shapes undistorted."""
        x = self.train.points[:20000].reshape(-1, 3).double()
        mean = x.mean(0)
        std = float((x - mean).pow(2).mean().sqrt().clamp_min(1e-3))
        return mean.float().tolist(), [std] * 3
