"""Settings of frozen-feature evaluation."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from openjepa.config import ConfigError
from openjepa.data.augment import Flips


@dataclass
class EvalConfig:
    """``encoder``: which network to evaluate (the target, or the context encoder).
    Image probes read mean-pooled final-layer features; the linear probe's L2 strength is
    picked on a held-out tenth of the training split. Video runs train attentive probes
    (``attentive_*``: V-JEPA's with 0 self-attention layers, V-JEPA 2's with 3) on the
    final-layer tokens to predict ``label`` (default: the dataset's primary label).
    ``max_train``: at most this many training items are probed. ``test_clips``: clips per test video
    (evenly spaced; probabilities averaged) where videos are files longer than a clip. ``probe_flips``: the
    attentive probes train on every training clip under each of these flips (one drawn per clip and epoch, as
    V-JEPA's probe trains on augmented clips). The sprites turn their labels with the clip; a folder of videos
    keeps its class labels, taken to be unchanged by the flips. Each flip costs one pass of the encoder over the
    training clips and one copy of their features. ``tokens``: ``clip`` encodes a clip's tokens together; ``step``
    encodes each tubelet time step on its own, at its own positions (as a one-step context is encoded in
    training), and concatenates the steps' tokens; the random init and the single frame are encoded the same way.
    ``probe_seeds``: each attentive probe trains from this many seeds (initialisation, batch order, validation split)
    and reports their mean accuracy; the single accuracies are kept under ``attentive_seeds``.
    ``attentive_warmups``: the attentive probe's warmup (a fraction of its steps) is picked from these on a held-out
    tenth of the training clips, for each encoder on its own; empty: the probe's default (none for V-JEPA's probe,
    a tenth for V-JEPA 2's)."""

    encoder: Literal["target", "context"] = "target"
    knn_k: int = 20
    knn_temperature: float = 0.07
    lowshot_per_class: int = 10
    lowshot_repeats: int = 5
    batch_size: int = 512
    max_train: int | None = None
    label: str | None = None
    attentive_layers: int = 0
    attentive_epochs: int = 10
    attentive_weight_decay: float = 0.01
    video_batch_size: int = 64
    test_clips: int = 2
    probe_flips: Flips = "none"
    tokens: Literal["clip", "step"] = "clip"
    probe_seeds: int = 1
    attentive_warmups: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.probe_seeds < 1:
            raise ConfigError(f"eval.probe_seeds: expected at least 1 seed, got {self.probe_seeds}")
        if any(not 0 <= w < 1 for w in self.attentive_warmups):
            raise ConfigError(f"eval.attentive_warmups: expected fractions of the probe's steps in [0, 1), "
                              f"got {self.attentive_warmups}")
