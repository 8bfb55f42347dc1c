"""The registered kinds of input: ``@MODALITIES.register(name)`` on a :class:`~openjepa.modalities.base.Modality`
subclass; :func:`load_data` reads a data config's dataset through its modality."""

from __future__ import annotations

from typing import Any

from openjepa.core.registry import Registry

MODALITIES = Registry("modality", home="openjepa.modalities")


def load_data(cfg: Any, spec: Any = None) -> Any:
    """Both splits of the dataset a data config (``ImageDataConfig``, ``VideoDataConfig``, ...) names, read by the
    modality it declares; shaped as ``spec`` (a trained run's :class:`~openjepa.core.spec.InputSpec`) when given."""
    return MODALITIES.get(cfg.modality)().load(cfg, spec)
