"""MNIST-format IDX files (``train-images-idx3-ubyte[.gz]`` and friends) from a local folder."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import torch

from openjepa.core.errors import DataError
from openjepa.data.images import ImageData, ImageSet

_PREFIXES = {"train": "train", "test": "t10k"}


def read_idx(path: Path) -> np.ndarray:
    """Decode one IDX file (uint8 payload) into an array of the shape its header declares."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except OSError as err:
        raise DataError(f"cannot read IDX file {path}: {err}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise DataError(f"{path} is not an IDX file (bad magic number)")
    if raw[2] != 0x08:
        raise DataError(f"{path}: only unsigned-byte IDX files are supported, got type code 0x{raw[2]:02x}")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path} is truncated (header of {ndim} dimensions incomplete)")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(shape))
    if len(raw) != expected:
        raise DataError(f"{path}: header says shape {shape} ({expected} bytes) but the file has {len(raw)} bytes")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def _find(root: Path, prefix: str, kind: str) -> Path | None:
    for name in (f"{prefix}-{kind}", f"{prefix}-{kind}".replace("-idx", ".idx")):
        for suffix in ("", ".gz"):
            if (root / f"{name}{suffix}").is_file():
                return root / f"{name}{suffix}"
    return None


def is_idx_folder(root: Path) -> bool:
    return _find(root, "train", "images-idx3-ubyte") is not None


def load_idx_folder(root: str | Path) -> ImageData:
    """``train-``/``t10k-`` ``images-idx3-ubyte`` and ``labels-idx1-ubyte`` (optionally .gz) -> ImageData."""
    root = Path(root)
    splits = {}
    for split, prefix in _PREFIXES.items():
        images_path = _find(root, prefix, "images-idx3-ubyte")
        labels_path = _find(root, prefix, "labels-idx1-ubyte")
        if images_path is None or labels_path is None:
            raise DataError(f"{root}: missing {prefix}-images-idx3-ubyte or {prefix}-labels-idx1-ubyte (.gz allowed)")
        images, labels = read_idx(images_path), read_idx(labels_path)
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise DataError(f"{root}: {images_path.name} {images.shape} and {labels_path.name} {labels.shape} do not pair")
        splits[split] = ImageSet(torch.from_numpy(images.copy())[:, None], torch.from_numpy(labels.astype(np.int64)),
                                 [str(c) for c in range(int(labels.max()) + 1)])
    classes = [str(c) for c in range(max(len(s.classes) for s in splits.values()))]
    return ImageData(root.name, *(ImageSet(s.images, s.labels, classes) for s in splits.values()))
