"""CIFAR-10 / CIFAR-100 "python version" batches from a local folder.

These are Python pickles: only open folders you trust.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torch

from openjepa.core.errors import DataError
from openjepa.data.images import ImageData, ImageSet


def _unpickle(path: Path) -> dict:
    try:
        with open(path, "rb") as f:
            return pickle.load(f, encoding="bytes")
    except (OSError, pickle.UnpicklingError, EOFError, ValueError) as err:
        raise DataError(f"cannot read CIFAR batch {path}: {err}") from None


def _batch(path: Path, label_key: bytes) -> tuple[np.ndarray, np.ndarray]:
    entry = _unpickle(path)
    if b"data" not in entry or label_key not in entry:
        raise DataError(f"{path} lacks the keys b'data' and {label_key!r} of a CIFAR batch")
    data = np.asarray(entry[b"data"], dtype=np.uint8)
    if data.ndim != 2 or data.shape[1] != 3072:
        raise DataError(f"{path}: expected data of shape (N, 3072), got {data.shape}")
    return data.reshape(-1, 3, 32, 32), np.asarray(entry[label_key], dtype=np.int64)


def is_cifar_folder(root: Path) -> bool:
    return (root / "data_batch_1").is_file() or ((root / "train").is_file() and (root / "meta").is_file())


def load_cifar_folder(root: str | Path) -> ImageData:
    """CIFAR-10 (``data_batch_1..5``, ``test_batch``, ``batches.meta``) or CIFAR-100 (``train``, ``test``, ``meta``)."""
    root = Path(root)
    if (root / "data_batch_1").is_file():
        train_files = sorted(root.glob("data_batch_*"))
        test_files, meta_file, label_key, names_key = [root / "test_batch"], root / "batches.meta", b"labels", b"label_names"
    else:
        train_files, test_files = [root / "train"], [root / "test"]
        meta_file, label_key, names_key = root / "meta", b"fine_labels", b"fine_label_names"
    splits = []
    for files in (train_files, test_files):
        parts = [_batch(f, label_key) for f in files]
        splits.append((np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])))
    meta = _unpickle(meta_file) if meta_file.is_file() else {}
    n_classes = int(max(splits[0][1].max(), splits[1][1].max())) + 1
    classes = [n.decode() for n in meta.get(names_key, [])] or [str(c) for c in range(n_classes)]
    sets = [ImageSet(torch.from_numpy(x), torch.from_numpy(y), classes) for x, y in splits]
    return ImageData(root.name, *sets)
