"""Datasets: built-in (no download) and readers of users' own files, plus the training loader."""

from openjepa.data.augment import ViewConfig, random_view
from openjepa.data.folder import DataError, load_image_folder
from openjepa.data.images import ImageData, ImageSet, resize_images
from openjepa.data.loader import TrainBatches
from openjepa.data.resolve import BUILTIN, DataConfig, load_data

__all__ = [
    "BUILTIN", "DataConfig", "DataError", "ImageData", "ImageSet", "TrainBatches", "ViewConfig",
    "load_data", "load_image_folder", "random_view", "resize_images",
]
