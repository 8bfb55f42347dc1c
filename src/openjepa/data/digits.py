"""scikit-learn's handwritten digits (1797 real 8x8 images, shipped with the package), upsampled."""

from __future__ import annotations

import torch

from openjepa.data.images import ImageData, ImageSet, resize_images, stratified_split
from openjepa.data.registry import DATASETS


def load_digits(size: int = 32, test_fraction: float = 0.2, seed: int = 0) -> ImageData:
    """The built-in ``digits`` dataset: 8x8 grey digits resized to ``size`` px, stratified split."""
    from sklearn.datasets import load_digits as sk_digits

    bunch = sk_digits()
    images = torch.from_numpy(bunch.images * (255.0 / 16.0)).round().to(torch.uint8)[:, None]
    images = resize_images(images, size)
    labels = torch.from_numpy(bunch.target).long()
    train, test = stratified_split(bunch.target, test_fraction, seed)
    full = ImageSet(images, labels, [str(d) for d in range(10)])
    return ImageData("digits", full.subset(train), full.subset(test))


@DATASETS.register("digits", modality="image")
def digits_dataset(cfg) -> ImageData:
    """``digits`` at the image size an image data config asks for (default 32)."""
    return load_digits(size=cfg.image_size or 32)
