"""Point-cloud folders -> :class:`~openjepa.data.points.PointData` (clouds ``(N, P, 3)`` float32, labels, classes).

Three layouts, found in this order:

- ``PATH/train/<class>/*`` + ``PATH/test/<class>/*``;
- ModelNet's ``PATH/<class>/train/*.off`` + ``PATH/<class>/test/*.off``;
- ``PATH/<class>/*``, split per class by ``test_fraction`` (seeded).

Files are any of :data:`~openjepa.data.point_files.POINT_SUFFIXES`, also in subfolders of a class folder; files
straight under ``PATH`` and hidden folders are ignored. Files are read by a thread pool; with ``cache=True`` the
decoded split is kept in openjepa's cache folder (:func:`~openjepa.data.cache.cache_dir`), under a key hashing the
reading settings and every file's path, size and modification time, so a changed file is read again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from openjepa.core.errors import DataError
from openjepa.data.cache import cache_dir, save_npz_atomic
from openjepa.data.class_folders import Entries, find_class_splits
from openjepa.data.images import stratified_split
from openjepa.data.point_files import POINT_SUFFIXES, read_points
from openjepa.data.points import PointData, PointSet

log = logging.getLogger("openjepa")
_CACHE_VERSION = 1




def read_point_files(entries: Entries, classes: list[str], *, points: int = 1024, seed: int = 0,
                     min_points: int = 1, skip_corrupt: bool = False, workers: int | None = None) -> PointSet:
    """Read ``(file, label)`` entries into a :class:`PointSet` of ``(N, points, 3)`` clouds (thread pool).
    An unreadable file stops the reading, or with ``skip_corrupt`` is left out with a warning."""

    def read(path: Path) -> np.ndarray | DataError:
        try:
            return read_points(path, points, seed=seed, min_points=min_points)
        except DataError as err:
            return err

    with ThreadPoolExecutor(max_workers=workers or min(8, os.cpu_count() or 1)) as pool:
        clouds = list(pool.map(read, [p for p, _ in entries]))
    kept, labels = [], []
    for (path, label), cloud in zip(entries, clouds):
        if isinstance(cloud, DataError):
            if not skip_corrupt:
                raise DataError(f"{cloud}. Fix or remove the file, or set data.skip_corrupt=true")
            log.warning("skipping unreadable point file: %s", cloud)
            continue
        kept.append(cloud)
        labels.append(label)
    if entries and not kept:
        raise DataError(f"none of the {len(entries)} point files could be read (first: {entries[0][0]})")
    array = np.stack(kept) if kept else np.zeros((0, points, 3), np.float32)
    return PointSet(torch.from_numpy(array), torch.tensor(labels, dtype=torch.long), list(classes))


def load_point_folder(root: str | Path, *, points: int = 1024, min_points: int = 1, test_fraction: float = 0.2,
                      seed: int = 0, skip_corrupt: bool = False, cache: bool = False,
                      workers: int | None = None) -> PointData:
    """A folder in any of the module's layouts -> train and test splits of ``points``-point clouds.
    ``seed`` fixes mesh sampling, subsampling and the split of a folder without one."""
    root = Path(root).expanduser()
    classes, train, test = find_class_splits(root, POINT_SUFFIXES, "point")
    settings = {"points": points, "seed": seed, "min_points": min_points, "skip_corrupt": skip_corrupt,
                "workers": workers}

    def split(entries: Entries) -> PointSet:
        return _cached_read(root, entries, classes, settings) if cache else read_point_files(entries, classes,
                                                                                              **settings)

    if test is not None:
        return PointData(root.name, split(train), split(test))
    full = split(train)
    train_idx, test_idx = stratified_split(full.labels.numpy(), test_fraction, seed)
    return PointData(root.name, full.subset(train_idx), full.subset(test_idx))


def _cached_read(root: Path, entries: Entries, classes: list[str], settings: dict) -> PointSet:
    """:func:`read_point_files` through the cache folder (:func:`openjepa.data.cache.cache_dir`); a cache that
    cannot be written is skipped with a warning."""
    stamps = []
    for path, label in entries:
        stat = path.stat()
        stamps.append([str(path), label, stat.st_size, stat.st_mtime_ns])
    facts = {k: v for k, v in settings.items() if k != "workers"}
    key = hashlib.sha256(json.dumps([_CACHE_VERSION, facts, classes, stamps]).encode()).hexdigest()[:24]
    try:
        file = cache_dir("point-folders") / f"{key}.npz"
    except OSError as err:
        log.warning("no point cache: %s", err)
        return read_point_files(entries, classes, **settings)
    if file.is_file():
        try:
            with np.load(file, allow_pickle=False) as stored:
                return PointSet(torch.from_numpy(stored["points"]), torch.from_numpy(stored["labels"]), list(classes))
        except (OSError, ValueError, KeyError) as err:
            log.warning("ignoring unreadable point cache %s: %s", file, err)
    split = read_point_files(entries, classes, **settings)
    try:
        save_npz_atomic(file, points=split.points.numpy(), labels=split.labels.numpy())
    except OSError as err:
        log.warning("could not write the point cache %s: %s", file, err)
    return split
