"""Datasets: built-in ones (no download; each module registers its own in ``DATASETS``), readers of users' own files
(image and video folders, IDX, CIFAR batches, trajectory stores), augmentations and the training loader."""

from openjepa.core.registry import import_submodules

import_submodules(__name__)
