"""Training windows over a trajectory store: short clips of frames, action chunks and states inside one episode."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from openjepa.core.errors import DataError
from openjepa.data.trajectories.store import TrajectoryStore


def split_episodes(num_episodes: int, test_fraction: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Disjoint sorted episode ids ``(train, test)``: a seeded shuffle, ``round(E * test_fraction)`` for test.

    With ``0 < test_fraction`` and at least two episodes, each side gets at least one episode.
    """
    if not 0 <= test_fraction < 1:
        raise ValueError(f"test_fraction must be in [0, 1), got {test_fraction}")
    n_test = round(num_episodes * test_fraction)
    if test_fraction > 0 and num_episodes >= 2:
        n_test = min(max(n_test, 1), num_episodes - 1)
    order = np.random.default_rng(seed).permutation(num_episodes)
    return np.sort(order[n_test:]), np.sort(order[:n_test])


class TrajectoryWindows(Dataset):
    """Every window of ``steps`` model steps that lies inside one episode.

    A model step covers ``frameskip`` env steps. The window starting at row ``t`` (offset ``o = t - starts[e]`` in
    episode ``e`` of L actions) uses frame/state rows ``t + j * frameskip`` for ``j < steps``, and for each of them
    the ``frameskip`` actions from that row on, so it needs ``steps * frameskip`` actions: windows exist for
    ``0 <= o <= L - steps * frameskip`` (every offset, not only multiples of ``frameskip``), ordered by episode
    then offset. Item: ``{"frames": uint8 (C, steps, H, W), "actions": float32 (steps, frameskip * A) with the
    chunk's actions concatenated in time order, "state": float32 (steps, S)}`` and, when the store records goals,
    ``"goal": float32 (steps, G)``, read from the memory maps.
    """

    def __init__(self, store: TrajectoryStore, steps: int, frameskip: int = 1, episodes: Sequence[int] | None = None):
        if steps < 1 or frameskip < 1:
            raise ValueError(f"steps and frameskip must be >= 1, got steps={steps}, frameskip={frameskip}")
        self.store, self.steps, self.frameskip = store, steps, frameskip
        ids = np.arange(store.num_episodes) if episodes is None else np.asarray(episodes, dtype=np.int64).reshape(-1)
        if ids.size and (ids.min() < 0 or ids.max() >= store.num_episodes):
            raise ValueError(f"episode ids must be in [0, {store.num_episodes}), got {ids.min()}..{ids.max()}")
        self.episodes = ids
        span = steps * frameskip
        counts = np.maximum(store.episode_lengths[ids] - span + 1, 0)
        if not counts.sum():
            longest = int(store.episode_lengths[ids].max()) if ids.size else 0
            raise DataError(f"no window fits: steps={steps} x frameskip={frameskip} needs episodes of >= {span} "
                             f"actions, the longest of the {ids.size} selected has {longest}")
        self._ends = np.cumsum(counts)

    def __len__(self) -> int:
        return int(self._ends[-1])

    def locate(self, i: int) -> tuple[int, int]:
        """``(episode id, first row)`` of window ``i``."""
        if not -len(self) <= i < len(self):
            raise IndexError(f"window {i} out of range for {len(self)} windows")
        i %= len(self)
        k = int(np.searchsorted(self._ends, i, side="right"))
        offset = i - (int(self._ends[k - 1]) if k else 0)
        episode = int(self.episodes[k])
        return episode, int(self.store.starts[episode]) + offset

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        _, t = self.locate(i)
        k, span = self.frameskip, self.steps * self.frameskip
        frames = np.ascontiguousarray(self.store.frames[t:t + span:k].transpose(3, 0, 1, 2))
        actions = np.array(self.store.actions[t:t + span], dtype=np.float32).reshape(self.steps, -1)
        state = np.array(self.store.state[t:t + span:k], dtype=np.float32)
        item = {"frames": torch.from_numpy(frames), "actions": torch.from_numpy(actions),
                "state": torch.from_numpy(state)}
        if self.store.goal is not None:
            item["goal"] = torch.from_numpy(np.array(self.store.goal[t:t + span:k], dtype=np.float32))
        return item


def frames_states(store: TrajectoryStore, max_frames: int | None = None, seed: int = 0,
                  episodes: Sequence[int] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Frames uint8 ``(M, C, H, W)`` and states float32 ``(M, S)`` of all rows of ``episodes`` (default: all), or of
    ``max_frames`` of them drawn without replacement (seeded), in row order."""
    ids = range(store.num_episodes) if episodes is None else episodes
    if not len(ids):
        raise ValueError("frames_states needs at least one episode")
    rows = np.concatenate([np.arange(store.starts[e], store.starts[e + 1]) for e in ids])
    if max_frames is not None and max_frames < len(rows):
        rows = np.sort(np.random.default_rng(seed).choice(rows, size=max_frames, replace=False))
    frames = np.ascontiguousarray(store.frames[rows].transpose(0, 3, 1, 2))
    return torch.from_numpy(frames), torch.from_numpy(np.array(store.state[rows], dtype=np.float32))
