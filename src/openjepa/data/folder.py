"""Image folders: ``PATH/<class>/*.png`` or ``PATH/train/<class>/...`` + ``PATH/test/<class>/...``."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from openjepa.core.errors import DataError
from openjepa.data.images import ImageData, ImageSet, resize_images, stratified_split

log = logging.getLogger("openjepa")
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".pgm", ".ppm", ".pbm"}
_GREY_MODES = {"1", "L", "LA", "I", "I;16", "F"}


def image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _decode(path: Path) -> np.ndarray | Exception:
    """``(H, W, C)`` uint8 with C = 1 (grey) or 3, or the exception that reading raised."""
    try:
        with Image.open(path) as img:
            img.load()
            if img.mode in _GREY_MODES:
                return np.asarray(img.convert("L"))[..., None]
            return np.asarray(img.convert("RGB"))
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError) as err:
        return err


def read_class_folder(root: Path, classes: list[str] | None = None, *, image_size: int | None = None,
                      skip_corrupt: bool = False) -> ImageSet:
    """Read ``root/<class>/**/image`` into memory. Images straight under ``root`` are unlabeled (-1)."""
    if not root.is_dir():
        raise DataError(f"data folder not found: {root}")
    subdirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    classes = classes if classes is not None else [d.name for d in subdirs if image_files(d)]
    entries: list[tuple[Path, int]] = []
    for label, name in enumerate(classes):
        entries += [(p, label) for p in image_files(root / name)]
    entries += [(p, -1) for p in sorted(root.iterdir()) if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    if not entries:
        raise DataError(
            f"no images found in {root}; expected {root}/<class>/*.png|jpg (or train/ and test/ folders "
            f"holding class folders). Readable suffixes: {', '.join(sorted(IMAGE_SUFFIXES))}"
        )
    images, kept = decode_images([p for p, _ in entries], root, image_size=image_size, skip_corrupt=skip_corrupt)
    return ImageSet(images, torch.tensor([entries[i][1] for i in kept], dtype=torch.long), list(classes))


def decode_images(paths: list[Path], root: Path, *, image_size: int | None = None,
                  skip_corrupt: bool = False) -> tuple[torch.Tensor, list[int]]:
    """Decode image files (of the folder ``root``) into uint8 ``(N, C, H, W)``, C = 3 if any is colour, resized to
    ``image_size`` when set (else all must share one size); also the positions in ``paths`` that were read
    (unreadable files are skipped with a warning when ``skip_corrupt``, else they stop the run)."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        decoded = list(pool.map(_decode, paths))
    arrays, kept = [], []
    for i, (path, img) in enumerate(zip(paths, decoded)):
        if isinstance(img, Exception):
            if not skip_corrupt:
                raise DataError(f"cannot read image {path}: {img}. Fix or remove it, or set data.skip_corrupt=true")
            log.warning("skipping unreadable image %s: %s", path, img)
            continue
        arrays.append((path, img))
        kept.append(i)
    if not arrays:
        raise DataError(f"none of the {len(paths)} images in {root} could be read")
    channels = 3 if any(a.shape[2] == 3 for _, a in arrays) else 1
    sizes = {a.shape[:2] for _, a in arrays}
    if len(sizes) > 1 and image_size is None:
        (p0, a0), (p1, a1) = arrays[0], next((p, a) for p, a in arrays if a.shape[:2] != arrays[0][1].shape[:2])
        raise DataError(
            f"images in {root} differ in size ({a0.shape[1]}x{a0.shape[0]} in {p0.name}, "
            f"{a1.shape[1]}x{a1.shape[0]} in {p1.name}); set data.image_size=N to resize them all to NxN"
        )
    tensors = []
    for _, a in arrays:
        if a.shape[2] != channels:
            a = np.repeat(a, 3, axis=2)
        t = torch.from_numpy(np.array(a)).permute(2, 0, 1)[None]
        tensors.append(resize_images(t, image_size) if image_size is not None else t)
    return torch.cat(tensors), kept


def load_image_folder(root: str | Path, *, image_size: int | None = None, test_fraction: float = 0.2,
                      seed: int = 0, skip_corrupt: bool = False) -> ImageData:
    """Class folders, with ``train/`` and ``test/`` splits when present, else a stratified split."""
    root = Path(root)
    if (root / "train").is_dir() and (root / "test").is_dir():
        train = read_class_folder(root / "train", image_size=image_size, skip_corrupt=skip_corrupt)
        test = read_class_folder(root / "test", classes=train.classes, image_size=image_size, skip_corrupt=skip_corrupt)
        extra = sorted({d.name for d in (root / "test").iterdir() if d.is_dir()} - set(train.classes))
        if extra:
            raise DataError(f"{root}/test has classes that {root}/train lacks: {', '.join(extra)}")
        channels = max(train.images.shape[1], test.images.shape[1])
        train, test = (ImageSet(s.images.expand(-1, channels, -1, -1).contiguous(), s.labels, s.classes)
                       for s in (train, test))
        return ImageData(root.name, train, test)
    if (root / "train").is_dir() or (root / "test").is_dir():
        if not (root / "train").is_dir():
            raise DataError(f"{root} has test/ but no train/ folder; expected train/<class>/ beside test/<class>/")
        log.info("%s has train/ but no test/: the test split is empty (evaluation needs one)", root)
        train = read_class_folder(root / "train", image_size=image_size, skip_corrupt=skip_corrupt)
        return ImageData(root.name, train, train.subset(np.arange(0)))
    full = read_class_folder(root, image_size=image_size, skip_corrupt=skip_corrupt)
    if not full.labeled:
        return ImageData(root.name, full, full.subset(np.arange(0)))
    train, test = stratified_split(full.labels.numpy(), test_fraction, seed)
    return ImageData(root.name, full.subset(train), full.subset(test))
