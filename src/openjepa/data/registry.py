"""The built-in datasets (no download): ``@DATASETS.register(name, modality=...)`` on a function from the data
section of a config to the dataset's train and test splits."""

from openjepa.core.registry import Registry

DATASETS = Registry("dataset", home="openjepa.data")
