"""A video dataset: train and test splits of clips of one shape, held in memory or decoded as they are read."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


def _first_clips(split, n: int) -> torch.Tensor:
    """uint8 ``(<=n, C, T, H, W)``: the first clips of a VideoSet or of any split whose items are ``(clip, label)``."""
    if hasattr(split, "clips"):
        return split.clips[:n]
    return torch.stack([split[i][0] for i in range(min(n, len(split)))])


@dataclass
class VideoData:
    """A video dataset as train and test splits of one clip shape ``(C, T, H, W)``.

    A split is a VideoSet or any sequence of ``(clip, label)`` (e.g. clips decoded from files as they are read).
    """

    name: str
    train: object
    test: object
    clip_shape: tuple[int, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        train, test = (tuple(_first_clips(s, 1).shape[1:]) if len(s) or hasattr(s, "clips") else None
                       for s in (self.train, self.test))
        if train and test and train != test:
            raise ValueError(f"{self.name}: train clips {train} and test clips {test} differ in shape")
        if not (train or test):
            raise ValueError(f"{self.name}: both splits are empty")
        self.clip_shape = train or test

    @property
    def channels(self) -> int:
        return self.clip_shape[0]

    @property
    def frames(self) -> int:
        return self.clip_shape[1]

    @property
    def frame_size(self) -> tuple[int, int]:
        return self.clip_shape[2:]

    @property
    def image_size(self) -> tuple[int, int]:
        """The frame size, under ImageData's name, for code that reads either."""
        return self.frame_size

    def channel_stats(self) -> tuple[list[float], list[float]]:
        """Per-channel mean and std in [0, 1] of the first 2000 training clips (64 if they are decoded on read)."""
        x = _first_clips(self.train, 2000 if hasattr(self.train, "clips") else 64).float().div_(255)
        return x.mean(dim=(0, 2, 3, 4)).tolist(), x.std(dim=(0, 2, 3, 4)).clamp_min(1e-3).tolist()
