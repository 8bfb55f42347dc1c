"""A folder of captioned images: the images (in class folders or not) and ``captions.csv`` beside them, with the
header ``image,caption`` and one row per caption (an image may have several), image paths relative to the folder:
Flickr8k's ``captions.txt`` layout. Images in class folders are labelled by their folder (for zero-shot
classification); the split is stratified by class when every image has one, else random.
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

CAPTIONS_FILE = "captions.csv"


def read_captions_csv(path: Path) -> dict[str, list[str]]:
    """``captions.csv`` -> captions by image path (as written, ``/``-separated); one line errors for a missing
    header, an empty caption or a file that is not UTF-8 text."""
    try:
        text = read_text_file(path)
    except TextReadError as err:
        raise DataError(f"{err}; expected a CSV file of captions with the header image,caption") from None
    rows = list(csv.reader(text.splitlines()))
    if not rows or [c.strip().lower() for c in rows[0][:2]] != ["image", "caption"]:
        raise DataError(f"{path}: expected the header image,caption on the first line, got "
                        f"'{','.join(rows[0]) if rows else ''}'")
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


def load_caption_folder(root: Path, *, prompt: str, image_size: int | None = None, test_fraction: float = 0.2,
                        seed: int = 0, skip_corrupt: bool = False) -> ImageData:
    """Every image under ``root`` with its captions from ``root/captions.csv``; ``prompt`` (e.g. ``a photo of a
    {}``) makes the class prompts when images lie in class folders. Errors name the images without a caption and
    the rows whose image is missing."""
    table = read_captions_csv(root / CAPTIONS_FILE)
    files = image_files(root)
    names = [p.relative_to(root).as_posix() for p in files]
    uncaptioned = [n for n in names if n not in table]
    if uncaptioned:
        raise DataError(f"{len(uncaptioned)} of the {len(names)} images in {root} have no caption in "
                        f"{CAPTIONS_FILE} (first: {uncaptioned[0]}); caption them or move them out of the folder")
    missing = sorted(set(table) - set(names))
    if missing:
        raise DataError(f"{CAPTIONS_FILE} names {len(missing)} images that {root} does not hold (first: "
                        f"{missing[0]}); paths are relative to the folder")
    images, kept = decode_images(files, root, image_size=image_size, skip_corrupt=skip_corrupt)
    names = [names[i] for i in kept]
    folders = [n.split("/")[0] if "/" in n else None for n in names]
    classes = sorted({f for f in folders if f is not None}) if all(folders) else []
    labels = torch.tensor([classes.index(f) if classes else -1 for f in folders], dtype=torch.long)
    prompts = [prompt.format(c.replace("_", " ").replace("-", " ")) for c in classes]
    full = CaptionedImages(images, labels, classes, [tuple(table[n]) for n in names], prompts)
    if classes:
        train, test = stratified_split(labels.numpy(), test_fraction, seed)
    else:
        order = np.random.default_rng(seed).permutation(len(names))
        cut = int(round(len(names) * test_fraction))
        train, test = np.sort(order[cut:]), np.sort(order[:cut])
    return ImageData(root.name, full.subset(train), full.subset(test))
