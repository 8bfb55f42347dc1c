"""In-memory audio splits: mono float32 waveforms of one sample rate and length, integer labels, class names."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class AudioSet:
    """One split: ``waves`` float32 ``(N, samples)`` at ``sample_rate`` Hz, ``labels`` int64 ``(N,)`` (-1 =
    unlabeled), ``classes`` the label names; ``speakers`` (optional, ``N`` names) says who or what made each clip,
    so that a split can hold out whole speakers."""

    waves: torch.Tensor
    labels: torch.Tensor
    classes: list[str]
    sample_rate: int
    speakers: list[str] | None = None

    def __post_init__(self) -> None:
        if self.waves.ndim != 2 or self.waves.dtype != torch.float32:
            raise ValueError(f"waves must be float32 (N, samples), got {self.waves.dtype} {tuple(self.waves.shape)}")
        if len(self.labels) != len(self.waves):
            raise ValueError(f"{len(self.waves)} waveforms but {len(self.labels)} labels")
        if self.speakers is not None and len(self.speakers) != len(self.waves):
            raise ValueError(f"{len(self.waves)} waveforms but {len(self.speakers)} speaker names")

    def __len__(self) -> int:
        return len(self.waves)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.waves[index], int(self.labels[index])

    @property
    def labeled(self) -> bool:
        return bool(len(self.labels)) and bool((self.labels >= 0).all())

    def subset(self, index: np.ndarray | torch.Tensor) -> AudioSet:
        index = torch.as_tensor(index, dtype=torch.long)
        speakers = None if self.speakers is None else [self.speakers[i] for i in index.tolist()]
        return AudioSet(self.waves[index], self.labels[index], self.classes, self.sample_rate, speakers)


@dataclass
class AudioData:
    """A sound dataset as train and test splits of one sample rate and clip length."""

    name: str
    train: AudioSet
    test: AudioSet

    def __post_init__(self) -> None:
        a, b = self.train, self.test
        if (a.sample_rate, a.waves.shape[1]) != (b.sample_rate, b.waves.shape[1]):
            raise ValueError(f"{self.name}: train clips ({a.waves.shape[1]} samples at {a.sample_rate} Hz) and test "
                             f"clips ({b.waves.shape[1]} samples at {b.sample_rate} Hz) differ")

    @property
    def sample_rate(self) -> int:
        return self.train.sample_rate

    @property
    def samples(self) -> int:
        """Samples per clip."""
        return self.train.waves.shape[1]

    @property
    def duration(self) -> float:
        """Seconds per clip."""
        return self.samples / self.sample_rate
