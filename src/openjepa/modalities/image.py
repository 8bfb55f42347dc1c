"""Images: ``(C, H, W)`` uint8 samples, 2-D patch tokens, linear / kNN / low-shot probes."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from openjepa.core.config import check_minimums
from openjepa.core.errors import ConfigError, DataError
from openjepa.core.spec import InputSpec
from openjepa.data.cifar import is_cifar_folder, load_cifar_folder
from openjepa.data.folder import IMAGE_SUFFIXES, _decode, load_image_folder
from openjepa.data.idx import is_idx_folder, load_idx_folder
from openjepa.data.images import ImageData, resize_images
from openjepa.modalities.base import Modality
from openjepa.modalities.patches import PatchEmbed2d
from openjepa.modalities.registry import MODALITIES
from openjepa.nn.vit import ViT, ViTConfig


@dataclass
class ImageDataConfig:
    """Where images come from and how they are sized.

    ``dataset``: a built-in image dataset (``shapes``, ``digits``) or a folder holding class folders (optionally
    under ``train/`` and ``test/``), MNIST IDX files, or CIFAR python batches. ``image_size``: resize (shorter
    side, centre crop) to this; None keeps the native size. ``test_fraction``/``split_seed``: the stratified split
    of a folder without ``train/`` and ``test/``. ``skip_corrupt``: skip unreadable files (with a warning) instead
    of stopping. ``mean``/``std``: per-channel normalisation, measured on the training split when a run starts and
    kept in its config.
    """

    modality: Literal["image"] = "image"
    dataset: str = "shapes"
    image_size: int | None = None
    test_fraction: float = 0.2
    split_seed: int = 0
    skip_corrupt: bool = False
    mean: list[float] | None = None
    std: list[float] | None = None

    def validate(self) -> None:
        check_minimums("data", self, image_size=1)
        if not 0 <= self.test_fraction < 1:
            raise ValueError(f"data.test_fraction must be in [0, 1), got {self.test_fraction}")


@dataclass
class ImageEvalConfig:
    """``encoder``: which network to evaluate (the target, or the context encoder). The probes read mean-pooled
    final-layer features; the linear probe's L2 strength is picked on a held-out tenth of the training split.
    ``max_train``: at most this many training images are probed. ``tasks``: the evaluation tasks to run (default:
    the image probes and the method's own)."""

    encoder: Literal["target", "context"] = "target"
    knn_k: int = 20
    knn_temperature: float = 0.07
    lowshot_per_class: int = 10
    lowshot_repeats: int = 5
    batch_size: int = 512
    max_train: int | None = None
    tasks: list[str] | None = None

    def validate(self) -> None:
        check_minimums("eval", self, knn_k=1, lowshot_per_class=1, lowshot_repeats=1, batch_size=1, max_train=1)


def read_images(paths: list[str | Path], channels: int, size: int) -> torch.Tensor:
    """Image files -> uint8 ``(N, channels, size, size)`` (shorter side resized, centre crop)."""
    out = []
    for path in paths:
        img = _decode(Path(path))
        if isinstance(img, Exception):
            raise DataError(f"cannot read image {path}: {img}")
        t = torch.from_numpy(np.array(img)).permute(2, 0, 1)[None]
        if t.shape[1] != channels:
            t = t.expand(-1, 3, -1, -1) if channels == 3 else t.float().mean(1, keepdim=True).round().to(torch.uint8)
        out.append(resize_images(t, size))
    if not out:
        raise DataError("no images given to embed")
    return torch.cat(out)


@MODALITIES.register("image")
class ImageModality(Modality):
    name = "image"
    data_config = ImageDataConfig
    eval_config = ImageEvalConfig
    eval_tasks = ("image_probes",)
    file_suffixes = frozenset(IMAGE_SUFFIXES)

    def load(self, cfg: ImageDataConfig, spec: InputSpec | None = None) -> ImageData:
        """Both splits in memory, resized to ``cfg.image_size`` (to ``spec``'s size when given) if set."""
        size = cfg.image_size if spec is None else _square(spec)
        if spec is not None:
            cfg = replace(cfg, image_size=size)
        data = self.builtin(cfg)
        if data is None:
            root = self.data_folder(cfg, "class folders of images, MNIST IDX files or CIFAR batches")
            if is_idx_folder(root):
                data = load_idx_folder(root)
            elif is_cifar_folder(root):
                data = load_cifar_folder(root)
            else:
                return load_image_folder(root, image_size=size, test_fraction=cfg.test_fraction,
                                         seed=cfg.split_seed, skip_corrupt=cfg.skip_corrupt)
        if size is not None and data.image_size != (size, size):
            data = ImageData(data.name, *(replace(s, images=resize_images(s.images, size))
                                          for s in (data.train, data.test)))
        return data

    def spec(self, data: ImageData) -> InputSpec:
        return InputSpec(modality=self.name, channels=data.channels, size=tuple(data.image_size))

    def build_encoder(self, config: ViTConfig, spec: InputSpec) -> ViT:
        if config.tubelet is not None:
            raise ConfigError("encoder.tubelet is set, but image runs cut images into 2-D patches: remove it (video "
                            "recipes set it together with data.modality: video)")
        for side in spec.size:
            if side % config.patch_size:
                good = side // config.patch_size * config.patch_size
                raise ConfigError(f"image size {side} is not a multiple of encoder.patch_size {config.patch_size}; "
                                f"set data.image_size to a multiple (e.g. {good}) or change encoder.patch_size")
        width = config.resolved()[0]
        return ViT(config, PatchEmbed2d(spec.channels, width, config.patch_size), tuple(spec.size))

    def read_files(self, paths: list[str | Path], spec: InputSpec) -> torch.Tensor:
        return read_images(paths, spec.channels, spec.size[0])


def _square(spec: InputSpec) -> int:
    if spec.size[0] != spec.size[1]:
        raise DataError(f"images of this run are {spec.size[1]}x{spec.size[0]}; other data can only be brought to "
                        f"a square size")
    return spec.size[0]

