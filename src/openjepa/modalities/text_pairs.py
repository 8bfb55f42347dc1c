"""Text pairs read by a causal language model (LLM-JEPA): two views of one thing, each as token ids of the model's
own tokenizer; the encoder is the language model of a transformers folder (``data.model``), fine-tuned by the run.

A sample is ``(2, L)`` ids, the two views without special tokens, -1 after their ends; the spec's ``reader`` keeps
the model folder and its begin / end ids, so the run reads the model again when it is evaluated.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from openjepa.core.config import absolute_if_exists, check_minimums
from openjepa.core.errors import ConfigError, DataError
from openjepa.core.spec import InputSpec
from openjepa.data.text_pairs import TextPairs, read_text_pairs
from openjepa.modalities.base import Modality
from openjepa.modalities.registry import MODALITIES
from openjepa.nn.hf_models import CausalLanguageModel, load_hf_folder, load_hf_tokenizer
from openjepa.nn.vit import ViTConfig


@dataclass
class TextPairsDataConfig:
    """``dataset``: a ``.jsonl``, ``.csv`` or ``.tsv`` file of pairs; ``fields``: the names of the two views (the
    first is read to predict the second); ``model``: a causal LM folder saved by transformers (its tokenizer reads
    the texts); ``length``: the most tokens a view keeps; ``test_fraction``: the held-out share (seeded).
    ``mean``/``std``: unused by token ids."""

    modality: Literal["text_pairs"] = "text_pairs"
    dataset: str = ""
    fields: list[str] = field(default_factory=lambda: ["text", "code"])
    model: str = ""
    length: int = 256
    test_fraction: float = 0.1
    mean: list[float] | None = None
    std: list[float] | None = None

    def __post_init__(self) -> None:
        self.model = absolute_if_exists(self.model)

    def validate(self) -> None:
        check_minimums("data", self, length=2)
        if len(self.fields) != 2 or len(set(self.fields)) != 2:
            raise ConfigError(f"data.fields names the two views of a pair, got {self.fields}")
        if not 0 < self.test_fraction < 1:
            raise ConfigError(f"data.test_fraction must lie in (0, 1), got {self.test_fraction}")


@dataclass
class TextPairsEvalConfig:
    """``batch_size``: pairs per forward pass; ``tasks``: the evaluation tasks (default: the method's);
    ``encoder``: one network (the language model) either way."""

    encoder: Literal["target", "context"] = "target"
    batch_size: int = 32
    tasks: list[str] | None = None

    def validate(self) -> None:
        check_minimums("eval", self, batch_size=1)


@dataclass
class PairSet:
    """One split as ids ``(N, 2, L)`` (-1 pads) with its texts."""

    ids: torch.Tensor
    pairs: TextPairs

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.ids[index], -1


@dataclass
class PairData:
    name: str
    train: PairSet
    test: PairSet
    reader: dict[str, Any]
    channels = 1  # token ids

    def channel_stats(self) -> tuple[list[float], list[float]]:
        """Token ids are not normalised: mean 0, std 1."""
        return [0.0], [1.0]


def tokenized(tokenizer: Any, texts: list[str], length: int) -> torch.Tensor:
    """``(N, length)`` ids without special tokens, -1 after each text's end (texts cut to ``length`` tokens)."""
    out = torch.full((len(texts), length), -1, dtype=torch.long)
    for i, ids in enumerate(tokenizer(texts, add_special_tokens=False)["input_ids"]):
        ids = ids[:length]
        out[i, : len(ids)] = torch.tensor(ids, dtype=torch.long)
    return out


@MODALITIES.register("text_pairs")
class TextPairsModality(Modality):
    name = "text_pairs"
    data_config = TextPairsDataConfig
    eval_config = TextPairsEvalConfig

    def load(self, cfg: TextPairsDataConfig, spec: InputSpec | None = None) -> PairData:
        if not cfg.dataset:
            raise DataError("data.dataset is not set: pass --data FILE (a .jsonl, .csv or .tsv file of text pairs)")
        if not cfg.model:
            raise DataError("data.model is not set: a causal language model folder saved by transformers "
                            "(data.model=PATH)")
        path = Path(cfg.dataset).expanduser()
        if not path.is_file():
            raise DataError(f"data not found: {path} is not a file of text pairs (.jsonl, .csv or .tsv)")
        pairs = read_text_pairs(path, tuple(cfg.fields))
        length = spec.size[1] if spec is not None else cfg.length
        tokenizer = load_hf_tokenizer(cfg.model, "language model")
        ids = torch.stack([tokenized(tokenizer, pairs.first, length), tokenized(tokenizer, pairs.second, length)], 1)
        if spec is None:  # a new run keeps as many tokens as its longest view has, at most data.length
            ids = ids[:, :, : max(1, int((ids >= 0).sum(2).max()))]
        order = np.random.default_rng(0).permutation(len(pairs))
        cut = max(1, int(round(len(pairs) * cfg.test_fraction)))
        test, train = np.sort(order[:cut]), np.sort(order[cut:])
        if not len(train):
            raise DataError(f"{path} holds {len(pairs)} pairs: too few to keep a test share")
        reader = {"model": str(Path(cfg.model).expanduser()), "bos": tokenizer.bos_token_id,
                  "eos": tokenizer.eos_token_id}
        return PairData(path.stem, PairSet(ids[train], pairs.subset(train)), PairSet(ids[test], pairs.subset(test)),
                        reader)

    def spec(self, data: PairData) -> InputSpec:
        return InputSpec(modality=self.name, channels=1, size=(2, data.train.ids.shape[2]), reader=data.reader)

    def build_encoder(self, config: ViTConfig, spec: InputSpec) -> CausalLanguageModel:
        """The language model of the spec's folder (``encoder`` settings are the folder's own, not read)."""
        model, _ = load_hf_folder(spec.reader["model"], "AutoModelForCausalLM", "language model")
        return CausalLanguageModel(model)

    def prepare(self, samples: torch.Tensor) -> torch.Tensor:
        return samples.long()
