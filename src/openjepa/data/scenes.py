"""In-memory object scenes: per-frame slots of every object, with the simulator's states, as windows of frames.

A split holds whole scenes; its samples are every window of ``window`` consecutive frames of every scene, fed as
``(F, window, N)`` slot features (channels first, so the run's per-feature normalisation applies) with the
window's ``states`` ``(window, N, 4)`` and ``collided`` ``(window, N)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class SceneSet:
    """``slots`` float32 ``(S, T, N, F)``; ``states`` float32 ``(S, T, N, 4)`` (x, y, vx, vy); ``collided`` bool
    ``(S, T, N)``; ``radii`` ``(S, N)``; ``colours`` uint8 ``(S, N, 3)``; ``window``: frames per sample."""

    slots: torch.Tensor
    states: torch.Tensor
    collided: torch.Tensor
    radii: np.ndarray
    colours: np.ndarray
    window: int

    def __post_init__(self) -> None:
        S, T, N, _ = self.slots.shape
        if self.states.shape[:3] != (S, T, N) or self.collided.shape != (S, T, N):
            raise ValueError(f"slots {tuple(self.slots.shape)}, states {tuple(self.states.shape)} and collided "
                             f"{tuple(self.collided.shape)} disagree on scenes, frames or objects")
        if not 1 <= self.window <= T:
            raise ValueError(f"a window of {self.window} frames does not fit scenes of {T} frames")

    @property
    def starts(self) -> int:
        """Windows per scene."""
        return self.slots.shape[1] - self.window + 1

    def __len__(self) -> int:
        return self.slots.shape[0] * self.starts

    def __getitem__(self, index: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        scene, start = divmod(index, self.starts)
        frames = slice(start, start + self.window)
        return (self.slots[scene, frames].permute(2, 0, 1),
                {"states": self.states[scene, frames], "collided": self.collided[scene, frames]})

    @property
    def labeled(self) -> bool:
        return False


@dataclass
class SceneData:
    name: str
    train: SceneSet
    test: SceneSet

    @property
    def channels(self) -> int:
        return self.train.slots.shape[-1]

    @property
    def objects(self) -> int:
        return self.train.slots.shape[2]

    def channel_stats(self) -> tuple[list[float], list[float]]:
        """Per-feature mean and std of the training slots."""
        x = self.train.slots.reshape(-1, self.channels).double()
        return x.mean(0).float().tolist(), x.std(0).clamp_min(1e-3).float().tolist()
