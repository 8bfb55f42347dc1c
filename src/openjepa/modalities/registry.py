"""The registered kinds of input: ``@MODALITIES.register(name)`` on a :class:`~openjepa.modalities.base.Modality`
subclass."""

from openjepa.core.registry import Registry

MODALITIES = Registry("modality", home="openjepa.modalities")
