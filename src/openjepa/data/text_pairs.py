"""Paired texts: two views of one thing (a request and its code, a question and its SQL), read from a ``.jsonl`` file
(one object a line) or a ``.csv`` / ``.tsv`` file with a header; ``fields`` names the two views."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from openjepa.core.errors import DataError
from openjepa.data.text_folder import TextReadError, read_text_file

PAIR_SUFFIXES = (".jsonl", ".csv", ".tsv")


@dataclass
class TextPairs:
    """One split: ``first[i]`` and ``second[i]`` are the two views of pair ``i``."""

    first: list[str]
    second: list[str]

    def __len__(self) -> int:
        return len(self.first)

    def subset(self, index: np.ndarray) -> TextPairs:
        return TextPairs([self.first[i] for i in index], [self.second[i] for i in index])


def read_text_pairs(path: Path, fields: tuple[str, str]) -> TextPairs:
    """Every pair of ``path``; one line errors name the line and what it lacks."""
    if path.suffix.lower() not in PAIR_SUFFIXES:
        raise DataError(f"{path}: expected a file of text pairs ending in {', '.join(PAIR_SUFFIXES)}")
    try:
        text = read_text_file(path)
    except TextReadError as err:
        raise DataError(f"{err}; expected text pairs ({', '.join(fields)})") from None
    if path.suffix.lower() == ".jsonl":
        rows = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                rows.append((number, json.loads(line)))
            except json.JSONDecodeError as err:
                raise DataError(f"{path}, line {number}: not JSON ({err.msg})") from None
    else:
        reader = csv.DictReader(text.splitlines(), delimiter="\t" if path.suffix.lower() == ".tsv" else ",")
        absent = [f for f in fields if f not in (reader.fieldnames or [])]
        if absent:
            raise DataError(f"{path}: the header lacks {', '.join(absent)} (it has "
                            f"{', '.join(reader.fieldnames or [])}); set data.fields to the two columns of the views")
        rows = list(enumerate(reader, start=2))
    pairs = TextPairs([], [])
    for number, row in rows:
        values = [row.get(f) if isinstance(row, dict) else None for f in fields]
        bad = [f for f, v in zip(fields, values) if not isinstance(v, str) or not v.strip()]
        if bad:
            raise DataError(f"{path}, line {number}: no text for '{bad[0]}' (each pair needs {' and '.join(fields)})")
        pairs.first.append(values[0].strip())
        pairs.second.append(values[1].strip())
    if not pairs.first:
        raise DataError(f"{path} holds no pairs")
    return pairs
