"""A trajectory store as a training dataset: windows of ``data.frames`` model steps, ``data.frame_step``
environment steps apart (the frameskip), split into train and test by episode."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import Dataset

from openjepa.data.trajectories.store import FORMAT, TrajectoryStore
from openjepa.data.trajectories.windows import TrajectoryWindows, frames_states, split_episodes


def is_trajectory_store(path: str | Path) -> bool:
    """Whether ``path`` is a folder written by :class:`~openjepa.data.trajectories.store.TrajectoryWriter`."""
    meta = Path(path) / "meta.json"
    if not meta.is_file():
        return False
    try:
        return json.loads(meta.read_text()).get("format") == FORMAT
    except (OSError, ValueError, AttributeError):
        return False


class WindowSet(Dataset):
    """``set[i] -> (frames uint8 (C, T, H, W), {"actions": (T, k A), "state": (T, S)[, "goal": (T, G)]})``."""

    def __init__(self, windows: TrajectoryWindows):
        self.windows = windows

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        item = self.windows[i]
        return item.pop("frames"), item


@dataclass
class TrajectoryData:
    """Train and test windows of one store (episodes split by ``test_fraction``)."""

    name: str
    store: TrajectoryStore
    train: WindowSet
    test: WindowSet
    train_episodes: list[int]
    test_episodes: list[int]
    frameskip: int

    @property
    def channels(self) -> int:
        return self.store.channels

    @property
    def image_size(self) -> tuple[int, int]:
        return tuple(self.store.image_size)

    @property
    def frames(self) -> int:
        return self.train.windows.steps

    @property
    def action_dim(self) -> int:
        """The model's action size: the env's action size times the frameskip."""
        return self.store.action_dim * self.frameskip

    def channel_stats(self) -> tuple[list[float], list[float]]:
        """Per-channel mean and std in [0, 1] of up to 4000 training frames."""
        x, _ = frames_states(self.store, max_frames=4000, seed=0, episodes=self.train_episodes)
        x = x.float().div_(255)
        return x.mean(dim=(0, 2, 3)).tolist(), x.std(dim=(0, 2, 3)).clamp_min(1e-3).tolist()


def load_trajectory_data(path: str | Path, *, steps: int, frameskip: int, test_fraction: float,
                         seed: int) -> TrajectoryData:
    store = TrajectoryStore(path)
    train_ids, test_ids = split_episodes(store.num_episodes, test_fraction, seed)
    sets = [WindowSet(TrajectoryWindows(store, steps, frameskip, episodes=ids)) for ids in (train_ids, test_ids)]
    return TrajectoryData(Path(path).name, store, *sets, list(train_ids), list(test_ids), frameskip)
