"""``openjepa similarity``: how alike a model finds two image or video files."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from openjepa.api import embed
from openjepa.nn.vit import ViT


def similarity(model: str | Path | ViT, a: str | Path, b: str | Path, *, per_step: bool = False) -> float:
    """Cosine similarity in [-1, 1] of the mean-pooled features of two image or video files (video: the centred
    clip of each; ``per_step``: each time step encoded on its own), as transformers' I-JEPA example computes it
    from ``last_hidden_state.mean(1)``."""
    x = torch.from_numpy(embed(model, [a, b], per_step=per_step))
    return float(F.cosine_similarity(x[:1], x[1:]))
