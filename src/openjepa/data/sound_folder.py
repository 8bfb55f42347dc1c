"""Sound folders -> :class:`~openjepa.data.sounds.AudioData`: every file read by ``soundfile``, made mono, resampled
to one rate and cut (centred) or zero-padded to one length.

Layouts as :mod:`openjepa.data.class_folders` finds them (class folders, ``train/`` + ``test/``, ModelNet-style);
a folder without a split of its own is split per class by ``test_fraction`` (seeded). Files are read by a thread
pool. An unreadable, empty, silent or non-finite file stops the reading with its name, or with ``skip_corrupt`` is
left out with a warning.
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

from openjepa.core.errors import DataError
from openjepa.data.audio_io import AUDIO_SUFFIXES, AudioReadError, load_audio
from openjepa.data.class_folders import Entries, find_class_splits
from openjepa.data.images import stratified_split
from openjepa.data.sounds import AudioData, AudioSet

log = logging.getLogger("openjepa")


def read_sound_files(entries: Entries, classes: list[str], *, sample_rate: int, samples: int,
                     skip_corrupt: bool = False) -> AudioSet:
    """``(file, label)`` entries -> an :class:`AudioSet` of ``(N, samples)`` mono waveforms at ``sample_rate``."""

    def read(path: Path) -> torch.Tensor | AudioReadError:
        try:
            return load_audio(path, sample_rate, samples)
        except AudioReadError as err:
            return err

    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        waves = list(pool.map(read, [p for p, _ in entries]))
    kept, labels = [], []
    for (path, label), wave in zip(entries, waves):
        if isinstance(wave, AudioReadError):
            if not skip_corrupt:
                raise DataError(f"{wave}. Fix or remove the file, or set data.skip_corrupt=true")
            log.warning("skipping unreadable sound file: %s", wave)
            continue
        kept.append(wave.float())
        labels.append(label)
    if entries and not kept:
        raise DataError(f"none of the {len(entries)} sound files could be read (first: {entries[0][0]})")
    stacked = torch.stack(kept) if kept else torch.zeros(0, samples)
    return AudioSet(stacked, torch.tensor(labels, dtype=torch.long), list(classes), sample_rate)


def load_sound_folder(root: str | Path, *, sample_rate: int, samples: int, test_fraction: float = 0.2,
                      seed: int = 0, skip_corrupt: bool = False) -> AudioData:
    """A folder of sound files in class folders -> train and test splits of ``samples``-sample clips."""
    root = Path(root).expanduser()
    classes, train, test = find_class_splits(root, AUDIO_SUFFIXES, "sound")
    settings = {"sample_rate": sample_rate, "samples": samples, "skip_corrupt": skip_corrupt}
    if test is not None:
        return AudioData(root.name, read_sound_files(train, classes, **settings),
                         read_sound_files(test, classes, **settings))
    full = read_sound_files(train, classes, **settings)
    train_idx, test_idx = stratified_split(full.labels.numpy(), test_fraction, seed)
    return AudioData(root.name, full.subset(train_idx), full.subset(test_idx))
