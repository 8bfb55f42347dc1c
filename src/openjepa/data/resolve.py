"""``data.dataset`` (a built-in name or a path) -> ImageData."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from openjepa.data.cifar import is_cifar_folder, load_cifar_folder
from openjepa.data.digits import load_digits
from openjepa.data.folder import DataError, load_image_folder
from openjepa.data.idx import is_idx_folder, load_idx_folder
from openjepa.data.images import ImageData, ImageSet, resize_images
from openjepa.data.shapes import load_shapes

BUILTIN = {"shapes": load_shapes, "digits": load_digits}


@dataclass
class DataConfig:
    """Where images come from and how they are sized.

    ``dataset``: a built-in name (``shapes``, ``digits``) or a folder holding class
    folders (optionally under ``train/`` and ``test/``), MNIST IDX files, or CIFAR
    python batches. ``image_size``: resize (shorter side, centre crop) to this;
    None keeps the native size. ``mean``/``std``: per-channel normalisation,
    measured on the training split when a run starts and kept in its config.
    """

    dataset: str = "shapes"
    image_size: int | None = None
    test_fraction: float = 0.2
    split_seed: int = 0
    skip_corrupt: bool = False
    mean: list[float] | None = None
    std: list[float] | None = None


def load_data(cfg: DataConfig) -> ImageData:
    """Load both splits of ``cfg.dataset`` into memory, resized to ``cfg.image_size`` if set."""
    if cfg.dataset in BUILTIN:
        data = BUILTIN[cfg.dataset](size=cfg.image_size) if cfg.image_size else BUILTIN[cfg.dataset]()
    else:
        root = Path(cfg.dataset).expanduser()
        if not root.exists():
            raise DataError(f"data not found: '{cfg.dataset}' is neither a folder nor a built-in dataset "
                            f"({', '.join(BUILTIN)})")
        if not root.is_dir():
            raise DataError(f"data path {root} is a file; expected a folder of images, IDX files or CIFAR batches")
        if is_idx_folder(root):
            data = load_idx_folder(root)
        elif is_cifar_folder(root):
            data = load_cifar_folder(root)
        else:
            return load_image_folder(root, image_size=cfg.image_size, test_fraction=cfg.test_fraction,
                                     seed=cfg.split_seed, skip_corrupt=cfg.skip_corrupt)
    if cfg.image_size is not None and data.image_size != (cfg.image_size, cfg.image_size):
        data = ImageData(data.name, *(ImageSet(resize_images(s.images, cfg.image_size), s.labels, s.classes)
                                      for s in (data.train, data.test)))
    return data
