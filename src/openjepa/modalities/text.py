"""Text: sentences as word ids ``(L,)`` (long, 0 pads), read by a transformer over words
(:class:`~openjepa.nn.text_encoder.TextEncoder`). The vocabulary travels in the run's spec (``reader["vocab"]``), so
``openjepa fill`` turns a user's words into ids without the data."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from openjepa.core.config import check_minimums
from openjepa.core.errors import ConfigError, DataError
from openjepa.core.spec import InputSpec
from openjepa.data.text import TextData
from openjepa.modalities.base import Modality
from openjepa.modalities.registry import MODALITIES
from openjepa.nn.text_encoder import TextEncoder
from openjepa.nn.vit import ViTConfig


@dataclass
class TextDataConfig:
    """``dataset``: the built-in ``toy_sentences`` (seed 004's missing-word task: ``sentences`` training and
    ``test_sentences`` test sentences). ``mean``/``std``: unused by word ids (0 and 1), kept for the run's format."""

    modality: Literal["text"] = "text"
    dataset: str = "toy_sentences"
    sentences: int = 20000
    test_sentences: int = 2000
    mean: list[float] | None = None
    std: list[float] | None = None

    def validate(self) -> None:
        check_minimums("data", self, sentences=1, test_sentences=1)


@dataclass
class TextEvalConfig:
    """``top_k``: the nearest words a prediction is scored by (top-1 and top-``top_k``); ``tasks``: the evaluation
    tasks to run (default: the method's own)."""

    encoder: Literal["target", "context"] = "context"
    top_k: int = 5
    tasks: list[str] | None = None

    def validate(self) -> None:
        check_minimums("eval", self, top_k=1)


@MODALITIES.register("text")
class TextModality(Modality):
    name = "text"
    data_config = TextDataConfig
    eval_config = TextEvalConfig

    def load(self, cfg: TextDataConfig, spec: InputSpec | None = None) -> TextData:
        data = self.builtin(cfg)
        if data is None:
            raise DataError(f"'{cfg.dataset}' is not a built-in text dataset; the text modality reads the built-in "
                            f"'toy_sentences' (folders of .txt files: not yet supported)")
        if spec is not None and data.train.vocab != spec.reader["vocab"]:
            raise DataError(f"{data.name}'s vocabulary differs from the run's ({len(data.train.vocab)} vs "
                            f"{len(spec.reader['vocab'])} words): its word ids would mean other words")
        return data

    def spec(self, data: TextData) -> InputSpec:
        return InputSpec(modality=self.name, channels=1, size=(1, data.length),
                         reader={"vocab": list(data.train.vocab)})

    def build_encoder(self, config: ViTConfig, spec: InputSpec) -> TextEncoder:
        if config.tubelet is not None:
            raise ConfigError("encoder.tubelet is set, but text runs read words, not frames: remove it")
        return TextEncoder(config, len(spec.reader["vocab"]), spec.size[1])

    def prepare(self, samples: torch.Tensor) -> torch.Tensor:
        """Stacked word ids: as they are (long)."""
        return samples.long()
