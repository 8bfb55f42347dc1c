"""Users' video files as train/test splits of clips, decoded as they are read (PyAV)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from openjepa.core.errors import DataError
from openjepa.data.clips import VideoData
from openjepa.data.video_io import VideoFolder, _sorted_classes, list_videos


class VideoClips:
    """A split of video files: ``split[i]`` is ``(uint8 (3, T, H, W), class index)``; the label is named ``class``.

    Training reads a random clip of each video, seeded by ``(seed, index)``; evaluation (``seed=None``) the
    centred one, or with :meth:`views` several evenly spaced ones.
    """

    primary = "class"

    def __init__(self, videos: list[tuple[Path, str]], classes: list[str], *, frames: int, frame_step: int,
                 fps: float | None, size: int, skip_corrupt: bool, seed: int | None, position: float = 0.5):
        self.videos = videos
        self.dataset = VideoFolder(videos, frames, frame_step=frame_step, fps=fps, size=size,
                                   on_error="skip" if skip_corrupt else "stop", seed=seed,
                                   position=position) if videos else None
        index = {name: i for i, name in enumerate(classes)}
        self.labels = {"class": torch.tensor([index[label] for _, label in videos], dtype=torch.long)}
        self.classes = {"class": list(classes)}
        self._settings = dict(frames=frames, frame_step=frame_step, fps=fps, size=size, skip_corrupt=skip_corrupt,
                              seed=seed, position=position)

    def __len__(self) -> int:
        return len(self.videos)

    def set_epoch(self, epoch: int) -> None:
        """Training clips start elsewhere in each epoch (a function of seed, epoch and index)."""
        if self.dataset is not None:
            self.dataset.set_epoch(epoch)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        clip, _ = self.dataset[index]
        return clip, int(self.labels["class"][index])

    def views(self, count: int) -> list[VideoClips]:
        """``count`` copies of this split that read the k-th of ``count`` evenly spaced clips of each video
        (starts at ``(k + 0.5) / count`` of the way through it): the test-time views of a probe."""
        if count < 1:
            raise ValueError(f"count must be >= 1, got {count}")
        return [VideoClips(self.videos, self.classes["class"], **{**self._settings, "seed": None,
                                                                  "position": (k + 0.5) / count})
                for k in range(count)]

    def subset(self, index) -> VideoClips:
        return VideoClips([self.videos[int(i)] for i in index], self.classes["class"], **self._settings)


def load_video_folder(root: Path, *, frames: int, frame_step: int = 1, fps: float | None = None, size: int,
                      test_fraction: float = 0.2, seed: int = 0, skip_corrupt: bool = False) -> VideoData:
    """``root/train/<class>/*`` + ``root/test/<class>/*``, or ``root/<class>/*`` (or a list file) split by
    ``test_fraction`` (stratified, seeded)."""
    if not root.exists():
        raise DataError(f"data not found: '{root}' is neither a video folder, a list file nor a built-in dataset")
    settings = dict(frames=frames, frame_step=frame_step, fps=fps, size=size, skip_corrupt=skip_corrupt)
    if (root / "train").is_dir() and (root / "test").is_dir():
        train, test = list_videos(root / "train"), list_videos(root / "test")
    else:
        videos = list_videos(root)
        rng = np.random.default_rng(seed)
        is_test = np.zeros(len(videos), dtype=bool)
        for label in sorted({label for _, label in videos}):
            members = [i for i, (_, lab) in enumerate(videos) if lab == label]
            picks = rng.permutation(members)[: int(round(len(members) * test_fraction))]
            is_test[picks] = True
        train = [v for v, t in zip(videos, is_test) if not t]
        test = [v for v, t in zip(videos, is_test) if t]
        if not train:
            raise DataError(f"{root}: no training videos left after holding out test_fraction={test_fraction}")
    classes = _sorted_classes({label for _, label in train + test})
    return VideoData(root.name, VideoClips(train, classes, seed=seed, **settings),
                     VideoClips(test, classes, seed=None, **settings))
