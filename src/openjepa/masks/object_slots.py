"""Masks over time x object slots (Causal-JEPA): which slots of a window the predictor sees.

A window holds ``history`` observed time steps and ``future`` ones to predict; every slot at t = 0 is seen (the
identity anchors) and no future slot is. Within the history, ``kind: objects`` hides the whole history after t = 0
of ``masked`` objects (an intervention: the model must infer what those objects did from the others), ``kind:
tokens`` hides as many single slots, anywhere in the history after t = 0 (the patch-masking baseline). With
``min_masked`` set, each sample draws its count from ``min_masked..masked`` (the reference's demo tries M = 0, 1
and 2), so some windows rehearse the fully observed history that prediction at test time sees. Draws depend only on
``(seed, epoch, sample index)``, so every sample gets its own objects at every step (the reference re-creates its
generator from one seed per call and hides the same objects every time).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from openjepa.masks.multiblock import sample_rng


@dataclass
class SlotMaskConfig:
    kind: Literal["objects", "tokens"] = "objects"
    masked: int = 2
    min_masked: int | None = None

    def validate(self) -> None:
        if self.masked < 0:
            raise ValueError(f"mask.masked must be >= 0 objects, got {self.masked}")
        if self.min_masked is not None and not 0 <= self.min_masked <= self.masked:
            raise ValueError(f"mask.min_masked must be in 0..mask.masked={self.masked}, got {self.min_masked}")


class SlotMasker:
    """``masker(seed, epoch, index)`` -> ``seen`` bool ``(history + future, objects)``."""

    def __init__(self, config: SlotMaskConfig, history: int, future: int, objects: int):
        if config.masked > objects:
            raise ValueError(f"mask.masked={config.masked} objects, but a scene holds {objects}")
        if history < 2:
            raise ValueError(f"a window needs at least 2 history steps (t = 0 is always seen), got {history}")
        self.config, self.history, self.future, self.objects = config, history, future, objects

    def __call__(self, seed: int, epoch: int, index: int) -> np.ndarray:
        rng = sample_rng(seed, epoch, index)
        seen = np.zeros((self.history + self.future, self.objects), bool)
        seen[: self.history] = True
        masked = self.config.masked
        if self.config.min_masked is not None:
            masked = int(rng.integers(self.config.min_masked, masked + 1))
        if self.config.kind == "objects":
            seen[1 : self.history, rng.choice(self.objects, masked, replace=False)] = False
        else:
            cells = rng.choice((self.history - 1) * self.objects, masked * (self.history - 1), replace=False)
            seen[1 + cells // self.objects, cells % self.objects] = False
        return seen


class SlotMaskExtras:
    """Loader extras: ``seen`` ``(B, T, N)`` for a batch."""

    def __init__(self, masker: SlotMasker):
        self.masker = masker

    def __call__(self, seed: int, epoch: int, indices: list[int]) -> dict[str, torch.Tensor]:
        return {"seen": torch.from_numpy(np.stack([self.masker(seed, epoch, i) for i in indices]))}
