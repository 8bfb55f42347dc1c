"""Labelled files in class folders: the three layouts users keep sound and point-cloud files in.

Found in this order: ``PATH/train/<class>/*`` + ``PATH/test/<class>/*``; ModelNet's ``PATH/<class>/train/*`` +
``PATH/<class>/test/*``; ``PATH/<class>/*`` (no split of its own). Files are those whose suffix is one of the
reader's, also in subfolders of a class folder; files straight under ``PATH`` and hidden folders are ignored.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from openjepa.core.errors import DataError

Entries = list[tuple[Path, int]]


def files_with_suffixes(folder: Path, suffixes: Iterable[str]) -> list[Path]:
    """Files under ``folder`` (recursively, hidden folders skipped) whose lower-case suffix is in ``suffixes``."""
    suffixes = frozenset(suffixes)
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in suffixes
                  and not any(part.startswith(".") for part in p.relative_to(folder).parts))


def find_class_splits(root: Path, suffixes: Iterable[str], what: str) -> tuple[list[str], Entries, Entries | None]:
    """``(classes, train entries, test entries)`` of a folder of ``what`` files (e.g. ``point``, ``sound``); test
    is None when the folder has no split of its own. An entry is ``(file, label)``."""
    suffixes = frozenset(suffixes)

    def listed(folder: Path) -> list[Path]:
        return files_with_suffixes(folder, suffixes)

    def class_dirs(folder: Path) -> list[Path]:
        return sorted(d for d in folder.iterdir() if d.is_dir() and not d.name.startswith(".") and listed(d))

    if not root.is_dir():
        raise DataError(f"data folder not found: {root}")
    if (root / "train").is_dir() and (root / "test").is_dir():
        classes = [d.name for d in class_dirs(root / "train")]
        extra = sorted({d.name for d in class_dirs(root / "test")} - set(classes))
        if extra:
            raise DataError(f"{root}/test has classes that {root}/train lacks: {', '.join(extra)}")
        train, test = ([(p, label) for label, name in enumerate(classes) for p in listed(root / split / name)]
                       for split in ("train", "test"))
    else:
        dirs = class_dirs(root)
        classes = [d.name for d in dirs]
        if any((d / "train").is_dir() or (d / "test").is_dir() for d in dirs):  # ModelNet
            train, test = ([(p, label) for label, d in enumerate(dirs)
                            for p in (listed(d / split) if (d / split).is_dir() else [])]
                           for split in ("train", "test"))
        else:
            train = [(p, label) for label, d in enumerate(dirs) for p in listed(d)]
            test = None
    if not train:
        kinds = "|".join(sorted(s.lstrip(".") for s in suffixes))
        raise DataError(f"no {what} files found in {root}; expected {root}/<class>/*.{{{kinds}}} (or train/<class>/ "
                        f"and test/<class>/, or ModelNet's <class>/train/ and <class>/test/)")
    return classes, train, test
