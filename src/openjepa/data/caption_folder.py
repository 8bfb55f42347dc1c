"""A folder of captioned images: the images and ``captions.csv`` (or ``captions.txt``) beside them, with the header
``image,caption`` and one row per caption (an image may have several). An image is named by its path relative to
the folder, or by its file name alone when no other image has that name (Flickr8k: ``Images/`` and
``captions.txt``). Images in two or more class folders are labelled by their folder (zero-shot classes);
``train/`` and ``test/`` folders make the split, else it is stratified by class (random without classes).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import torch

from openjepa.core.errors import DataError
from openjepa.data.captions import CaptionedImages
from openjepa.data.folder import decode_images, image_files
from openjepa.data.images import ImageData, stratified_split
from openjepa.data.text_folder import TextReadError, read_text_file

CAPTIONS_FILES = ("captions.csv", "captions.txt")


def captions_file(root: Path) -> Path | None:
    """The folder's captions file, if it has one."""
    return next((root / name for name in CAPTIONS_FILES if (root / name).is_file()), None)


def read_captions_csv(path: Path) -> dict[str, list[str]]:
    """``captions.csv`` -> captions by image path (as written, ``/``-separated); one line errors for a missing
    header, an empty caption or a file that is not UTF-8 text."""
    try:
        text = read_text_file(path)
    except TextReadError as err:
        raise DataError(f"{err}; expected a CSV file of captions with the header image,caption") from None
    rows = list(csv.reader(text.splitlines()))
    if [c.strip().lower() for c in rows[0][:2]] != ["image", "caption"]:
        raise DataError(f"{path}: expected the header image,caption on the first line, got '{','.join(rows[0])}'")
    captions: dict[str, list[str]] = {}
    for number, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        if len(row) < 2 or not row[1].strip():
            raise DataError(f"{path}, line {number}: no caption for '{row[0]}' (rows are image,caption)")
        captions.setdefault(row[0].strip().replace("\\", "/"), []).append(",".join(row[1:]).strip())
    if not captions:
        raise DataError(f"{path} has a header but no captions")
    return captions


def _by_relative_path(table: dict[str, list[str]], names: list[str]) -> dict[str, list[str]]:
    """``table``'s keys made relative paths: a bare file name is the one image of that name, when it is unique."""
    paths = set(names)
    by_file: dict[str, list[str]] = {}
    for name in names:
        by_file.setdefault(name.rsplit("/", 1)[-1], []).append(name)
    out: dict[str, list[str]] = {}
    for key, captions in table.items():
        if key not in paths and "/" not in key and len(by_file.get(key, [])) == 1:
            key = by_file[key][0]
        out.setdefault(key, []).extend(captions)
    return out


def load_caption_folder(root: Path, *, prompt: str, image_size: int | None = None, test_fraction: float = 0.2,
                        seed: int = 0, skip_corrupt: bool = False) -> ImageData:
    """Every image under ``root`` with its captions from the folder's captions file; ``prompt`` (e.g. ``a photo
    of a {}``) makes the class prompts. Errors name the images without a caption and the rows whose image is
    missing."""
    file = captions_file(root)
    if file is None:
        raise DataError(f"{root} has no {' or '.join(CAPTIONS_FILES)} (header image,caption)")
    files = image_files(root)
    names = [p.relative_to(root).as_posix() for p in files]
    table = _by_relative_path(read_captions_csv(file), names)
    uncaptioned = [n for n in names if n not in table]
    if uncaptioned:
        raise DataError(f"{len(uncaptioned)} of the {len(names)} images in {root} have no caption in {file.name} "
                        f"(first: {uncaptioned[0]}); caption them or move them out of the folder")
    missing = sorted(set(table) - set(names))
    if missing:
        raise DataError(f"{file.name} names {len(missing)} images that {root} does not hold (first: {missing[0]}); "
                        f"name them by their path relative to the folder")
    images, kept = decode_images(files, root, image_size=image_size, skip_corrupt=skip_corrupt)
    names = [names[i] for i in kept]
    parts = [n.split("/") for n in names]
    in_splits = all(len(p) > 1 for p in parts) and {p[0] for p in parts} == {"train", "test"}
    places = [p[1:] if in_splits else p for p in parts]
    folders = [p[0] if len(p) > 1 else None for p in places]
    classes = sorted(set(folders)) if all(folders) and len(set(folders)) >= 2 else []
    labels = torch.tensor([classes.index(f) if classes else -1 for f in folders], dtype=torch.long)
    prompts = [prompt.format(c.replace("_", " ").replace("-", " ")) for c in classes]
    full = CaptionedImages(images, labels, classes, [tuple(table[n]) for n in names], prompts)
    if in_splits:
        test_mask = np.array([p[0] == "test" for p in parts])
        train, test = np.flatnonzero(~test_mask), np.flatnonzero(test_mask)
    elif classes:
        train, test = stratified_split(labels.numpy(), test_fraction, seed)
    else:
        order = np.random.default_rng(seed).permutation(len(names))
        cut = int(round(len(names) * test_fraction))
        train, test = np.sort(order[cut:]), np.sort(order[:cut])
    return ImageData(root.name, full.subset(train), full.subset(test))
