"""Users' text -> a :class:`~openjepa.data.text.Corpus`: ``.txt`` files in class folders (one document per file,
labelled by its folder; the layouts :mod:`openjepa.data.class_folders` finds), or ``.txt`` files anywhere under a
folder without class folders (one text per non-empty line, unlabelled). A folder without a split of its own is
split per class by ``test_fraction`` (seeded).

Every file must be UTF-8 text: an empty file, a binary one (NUL bytes) or one that does not decode stops the
reading with its name, or with ``skip_corrupt`` is left out with a warning.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from openjepa.core.errors import DataError
from openjepa.data.class_folders import Entries, files_with_suffixes, find_class_splits
from openjepa.data.images import stratified_split
from openjepa.data.text import Corpus, Documents

log = logging.getLogger("openjepa")
TEXT_SUFFIXES = frozenset({".txt"})


class TextReadError(ValueError):
    """A file that is not readable text; the message names it and says why."""


def read_text_file(path: Path) -> str:
    """The UTF-8 text of ``path`` (a leading byte-order mark dropped), or a :class:`TextReadError`."""
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise TextReadError(f"text file not found: {path}") from None
    except OSError as err:
        raise TextReadError(f"cannot read {path}: {err.strerror}") from err
    if b"\x00" in raw:
        raise TextReadError(f"{path} holds binary data (NUL bytes), not text")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise TextReadError(f"{path} is not UTF-8 text (byte 0x{raw[err.start]:02x} at offset {err.start}); "
                            f"re-save it as UTF-8") from err
    if not text.strip():
        raise TextReadError(f"{path} is empty")
    return text


def read_documents(entries: Entries, *, per_line: bool, skip_corrupt: bool) -> tuple[list[str], list[int]]:
    """``(file, label)`` entries -> texts and labels: a file's whole text (whitespace runs made one space), or each
    of its non-empty lines."""
    texts, labels = [], []
    for path, label in entries:
        try:
            text = read_text_file(path)
        except TextReadError as err:
            if not skip_corrupt:
                raise DataError(f"{err}. Fix or remove the file, or set data.skip_corrupt=true") from None
            log.warning("skipping unreadable text file: %s", err)
            continue
        pieces = [line.strip() for line in text.splitlines()] if per_line else [" ".join(text.split())]
        kept = [p for p in pieces if p]
        texts += kept
        labels += [label] * len(kept)
    if entries and not texts:
        raise DataError(f"none of the {len(entries)} text files could be read (first: {entries[0][0]})")
    return texts, labels


def split_documents(texts: list[str], labels: list[int], test_fraction: float,
                    seed: int) -> tuple[Documents, Documents]:
    """Per-class seeded train/test split of texts."""
    train, test = stratified_split(np.asarray(labels), test_fraction, seed)
    return tuple(Documents([texts[i] for i in idx], torch.tensor([labels[i] for i in idx], dtype=torch.long))
                 for idx in (train, test))


def load_text_folder(root: str | Path, *, test_fraction: float = 0.2, seed: int = 0,
                     skip_corrupt: bool = False) -> Corpus:
    """A folder of ``.txt`` files -> a :class:`Corpus` (labelled when its files sit in class folders)."""
    root = Path(root).expanduser()
    has_classes = any(d.is_dir() and not d.name.startswith(".") and files_with_suffixes(d, TEXT_SUFFIXES)
                      for d in root.iterdir())
    if not has_classes:
        files = files_with_suffixes(root, TEXT_SUFFIXES)
        if not files:
            raise DataError(f"no .txt files found in {root}; expected {root}/<class>/*.txt (one document per file) "
                            f"or .txt files of one text per line")
        texts, labels = read_documents([(p, 0) for p in files], per_line=True, skip_corrupt=skip_corrupt)
        train, test = split_documents(texts, labels, test_fraction, seed)
        return Corpus(root.name, train, test, None)
    classes, train_entries, test_entries = find_class_splits(root, TEXT_SUFFIXES, "text")
    settings = {"per_line": False, "skip_corrupt": skip_corrupt}
    if test_entries is None:
        train, test = split_documents(*read_documents(train_entries, **settings), test_fraction, seed)
    else:
        train, test = (Documents(t, torch.tensor(y, dtype=torch.long))
                       for t, y in (read_documents(e, **settings) for e in (train_entries, test_entries)))
    return Corpus(root.name, train, test, classes)
