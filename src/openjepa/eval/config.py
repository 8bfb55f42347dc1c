"""Settings of frozen-feature evaluation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass
class EvalConfig:
    """``encoder``: which network to evaluate (the target, or the context encoder).
    Probes read mean-pooled final-layer features; the linear probe's L2 strength is
    picked on a held-out tenth of the training split."""

    encoder: Literal["target", "context"] = "target"
    knn_k: int = 20
    knn_temperature: float = 0.07
    lowshot_per_class: int = 10
    lowshot_repeats: int = 5
    batch_size: int = 512
    max_train: int | None = None
