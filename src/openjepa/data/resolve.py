"""``data.dataset`` (a built-in name or a path) -> ImageData, or VideoData when ``data.frames`` is set."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from openjepa.data.cifar import is_cifar_folder, load_cifar_folder
from openjepa.data.digits import load_digits
from openjepa.data.folder import DataError, load_image_folder
from openjepa.data.idx import is_idx_folder, load_idx_folder
from openjepa.data.images import ImageData, ImageSet, resize_images
from openjepa.data.shapes import load_shapes
from openjepa.data.sprites import SPRITE_SETS, VideoData, load_sprites
from openjepa.data.video_folder import load_video_folder

if TYPE_CHECKING:
    from openjepa.world.data import TrajectoryData

BUILTIN = {"shapes": load_shapes, "digits": load_digits}
BUILTIN_VIDEO = {name: partial(load_sprites, name) for name in SPRITE_SETS}


@dataclass
class DataConfig:
    """Where images or clips come from and how they are sized.

    ``dataset``: a built-in name (images: ``shapes``, ``digits``; video: ``sprites`` with a third of the clips in
    a corridor, ``sprites_walls`` with every clip in one, ``sprites_no_walls`` with none, ``sprites_noisy``: those
    clips with camera noise) or a folder holding class
    folders (optionally under ``train/`` and ``test/``), MNIST IDX files, or CIFAR python batches; for video, class
    folders of ``*.mp4|avi|webm|mkv|mov`` or a list file of ``path label`` lines; or a trajectory store
    (``openjepa collect``).
    ``image_size``: resize (shorter side, centre crop) to this; None keeps the native size. ``frames``: clip length; set for video
    (``frame_step``: take every k-th decoded frame, or ``fps``: resample to this rate); for a
    trajectory store, model steps per training window (``frame_step``: the frameskip).
    ``skip_corrupt``: skip unreadable files (with a warning) instead of stopping.
    ``train_size``: how many training clips a generated video built-in holds (default 6000; its 1000 test clips
    stay the same); datasets read from files have the size they have and ignore it, so a recipe that sets it
    still trains on ``--data PATH``.
    ``mean``/``std``: per-channel normalisation, measured on the training split when a
    run starts and kept in its config.
    """

    dataset: str = "shapes"
    image_size: int | None = None
    test_fraction: float = 0.2
    split_seed: int = 0
    skip_corrupt: bool = False
    frames: int | None = None
    frame_step: int = 1
    fps: float | None = None
    train_size: int | None = None
    mean: list[float] | None = None
    std: list[float] | None = None


def load_data(cfg: DataConfig) -> ImageData | VideoData | TrajectoryData:
    """Both splits of ``cfg.dataset``: images in memory, resized to ``cfg.image_size`` if set; clips
    when ``cfg.frames`` is set (built-in ones in memory, video files decoded as they are read);
    windows of ``cfg.frames`` model steps when it is a trajectory store (see :mod:`openjepa.world.store`)."""
    if not cfg.dataset:
        raise DataError("data.dataset is not set: pass --data PATH (a folder of class folders) or a built-in name")
    if cfg.train_size is not None and cfg.train_size < 1:
        raise DataError(f"data.train_size must be at least 1 clip, got {cfg.train_size}")
    from openjepa.world.data import is_trajectory_store, load_trajectory_data

    if is_trajectory_store(Path(cfg.dataset).expanduser()):
        if cfg.frames is None or cfg.frames < 2:
            raise DataError(f"{cfg.dataset} is a trajectory store: set data.frames (model steps per training "
                            f"window, >= 2) and data.frame_step (the frameskip), as the lewm recipes do")
        return load_trajectory_data(Path(cfg.dataset).expanduser(), steps=cfg.frames, frameskip=cfg.frame_step,
                                    test_fraction=cfg.test_fraction, seed=cfg.split_seed)
    if cfg.frames is not None:
        return load_video_data(cfg)
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


def load_video_data(cfg: DataConfig) -> VideoData:
    if cfg.dataset in BUILTIN_VIDEO:
        sizes = {} if cfg.train_size is None else {"train_size": cfg.train_size}
        return BUILTIN_VIDEO[cfg.dataset](frames=cfg.frames, size=cfg.image_size or 32, **sizes)
    if cfg.dataset in BUILTIN:
        raise DataError(f"'{cfg.dataset}' is an image dataset but data.frames={cfg.frames} asks for clips; "
                        f"video built-ins: {', '.join(BUILTIN_VIDEO)}")
    if cfg.image_size is None:
        raise DataError("video folders need data.image_size (clips are resized and centre-cropped to it)")
    return load_video_folder(Path(cfg.dataset).expanduser(), frames=cfg.frames, frame_step=cfg.frame_step,
                             fps=cfg.fps, size=cfg.image_size, test_fraction=cfg.test_fraction,
                             seed=cfg.split_seed, skip_corrupt=cfg.skip_corrupt)
