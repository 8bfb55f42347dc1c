"""In-memory image splits: uint8 pixels, integer labels, class names."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F


@dataclass
class ImageSet:
    """One split: ``images`` uint8 ``(N, C, H, W)``, ``labels`` int64 ``(N,)`` (-1 = unlabeled)."""

    images: torch.Tensor
    labels: torch.Tensor
    classes: list[str]

    def __post_init__(self) -> None:
        if self.images.ndim != 4 or self.images.dtype != torch.uint8:
            raise ValueError(f"images must be uint8 (N, C, H, W), got {self.images.dtype} {tuple(self.images.shape)}")
        if self.images.shape[1] not in (1, 3):
            raise ValueError(f"images must have 1 or 3 channels, got {self.images.shape[1]}")
        if len(self.labels) != len(self.images):
            raise ValueError(f"{len(self.images)} images but {len(self.labels)} labels")

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.images[index], int(self.labels[index])

    @property
    def labeled(self) -> bool:
        return bool(len(self.labels)) and bool((self.labels >= 0).all())

    def subset(self, index: np.ndarray | torch.Tensor) -> ImageSet:
        index = torch.as_tensor(index, dtype=torch.long)
        return ImageSet(self.images[index], self.labels[index], self.classes)


@dataclass
class ImageData:
    """A dataset as train and test splits of one size and channel count."""

    name: str
    train: ImageSet
    test: ImageSet

    def __post_init__(self) -> None:
        if self.train.images.shape[1:] != self.test.images.shape[1:]:
            raise ValueError(
                f"{self.name}: train images {tuple(self.train.images.shape[1:])} and test images "
                f"{tuple(self.test.images.shape[1:])} differ in shape"
            )

    @property
    def channels(self) -> int:
        return self.train.images.shape[1]

    @property
    def image_size(self) -> tuple[int, int]:
        return tuple(self.train.images.shape[2:])

    def channel_stats(self) -> tuple[list[float], list[float]]:
        """Per-channel mean and std of the training images in [0, 1]."""
        x = self.train.images[:20000].float().div_(255)
        return x.mean(dim=(0, 2, 3)).tolist(), x.std(dim=(0, 2, 3)).clamp_min(1e-3).tolist()


def resize_images(images: torch.Tensor, size: int) -> torch.Tensor:
    """Resize uint8 ``(N, C, H, W)`` to ``(N, C, size, size)``: shorter side to ``size``, centre crop."""
    h, w = images.shape[2:]
    if (h, w) == (size, size):
        return images
    scale = size / min(h, w)
    nh, nw = max(size, round(h * scale)), max(size, round(w * scale))
    out = []
    for chunk in images.split(4096):
        x = F.interpolate(chunk.float(), size=(nh, nw), mode="bilinear", antialias=True, align_corners=False)
        top, left = (nh - size) // 2, (nw - size) // 2
        out.append(x[:, :, top : top + size, left : left + size].round_().clamp_(0, 255).to(torch.uint8))
    return torch.cat(out)


def stratified_split(labels: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of a deterministic per-class train/test split."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n_test = int(round(len(idx) * test_fraction))
        test.append(idx[:n_test])
        train.append(idx[n_test:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))
