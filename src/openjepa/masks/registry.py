"""The registered maskers: ``@MASKERS.register(name)`` on a masker class built as ``cls(config, grid)``, whose
``config_class`` holds its settings; a masker is a pure function of ``(seed, epoch, index)``."""

from openjepa.core.registry import Registry

MASKERS = Registry("masker", home="openjepa.masks")
