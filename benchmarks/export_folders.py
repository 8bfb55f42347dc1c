"""Export a real dataset as PNG class folders (PATH/train/<class>/*.png, PATH/test/<class>/*.png).

Sources:
  opencv-digits   Debian opencv-doc's samples/data/digits.png: 5000 handwritten 20x20 digits
                  (500 per class), centred on 28x28 like MNIST; 400 train / 100 test per class.
  idx:FOLDER      any MNIST-format IDX folder (e.g. Debian dataset-fashion-mnist's
                  /usr/share/datasets/fashion-mnist).

  python benchmarks/export_folders.py opencv-digits /tmp/digits28
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

OPENCV_DIGITS = Path("/usr/share/doc/opencv-doc/examples/data/digits.png")


def opencv_digits(path: Path = OPENCV_DIGITS, seed: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    if not path.is_file():
        raise SystemExit(f"{path} not found: install Debian's opencv-doc (apt-get install opencv-doc)")
    sheet = np.asarray(Image.open(path).convert("L"))
    cells = sheet.reshape(50, 20, 100, 20).transpose(0, 2, 1, 3).reshape(5000, 20, 20)
    labels = np.repeat(np.arange(10), 500)
    images = np.zeros((5000, 28, 28), dtype=np.uint8)
    images[:, 4:24, 4:24] = cells
    rng = np.random.default_rng(seed)
    test = np.concatenate([rng.permutation(np.flatnonzero(labels == c))[:100] for c in range(10)])
    is_test = np.zeros(5000, dtype=bool)
    is_test[test] = True
    return {"train": (images[~is_test], labels[~is_test]), "test": (images[is_test], labels[is_test])}


def idx_folder(folder: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    from openjepa.data.idx import load_idx_folder

    data = load_idx_folder(folder)
    return {name: (s.images[:, 0].numpy(), s.labels.numpy()) for name, s in (("train", data.train), ("test", data.test))}


def export(splits: dict[str, tuple[np.ndarray, np.ndarray]], out: Path) -> None:
    for split, (images, labels) in splits.items():
        for i, (img, label) in enumerate(zip(images, labels)):
            folder = out / split / str(int(label))
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(img).save(folder / f"{i:05d}.png")
        print(f"{split}: {len(images)} images in {len(set(labels.tolist()))} classes -> {out / split}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", help="opencv-digits or idx:FOLDER")
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    splits = opencv_digits() if args.source == "opencv-digits" else idx_folder(args.source.removeprefix("idx:"))
    export(splits, args.out)


if __name__ == "__main__":
    main()
