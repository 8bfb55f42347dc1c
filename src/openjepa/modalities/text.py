"""Text: documents as token ids ``(L,)`` (long, 0 pads), read by a transformer over tokens
(:class:`~openjepa.nn.text_encoder.TextEncoder`). A corpus with a closed vocabulary (the built-in
``toy_sentences``) is read word by word; any other (the built-in ``wordnet_glosses``, users' ``.txt`` folders) by a
byte-level BPE learnt on its training split when the run starts. The tokenizer travels in the run's spec
(``reader``), so ``openjepa embed``, ``similarity`` and ``fill`` read users' text offline as the run read its
corpus."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch

from openjepa.core.config import check_minimums
from openjepa.core.errors import ConfigError, DataError
from openjepa.core.spec import InputSpec
from openjepa.data.text import Corpus, Documents, TextData, TextSet
from openjepa.data.text_folder import TEXT_SUFFIXES, TextReadError, load_text_folder, read_text_file
from openjepa.data.tokenizer import BPETokenizer, WordTokenizer, tokenizer_from_reader, vocab_size
from openjepa.modalities.base import Modality
from openjepa.modalities.image import ImageEvalConfig
from openjepa.modalities.registry import MODALITIES
from openjepa.nn.text_encoder import TextEncoder
from openjepa.nn.vit import ViTConfig


@dataclass
class TextDataConfig:
    """``dataset``: a built-in corpus (``toy_sentences``, ``wordnet_glosses``) or a folder of ``.txt`` files.
    ``sentences``: training texts (the toy's count; for corpora the most read, None: all); ``test_sentences``: test
    texts (the toy's count; ``wordnet_glosses``' test split). ``length``: the most tokens a text keeps (runs use the
    longest training text's count when shorter). ``vocab_size``: the BPE's size for corpora without a closed
    vocabulary. ``test_fraction``: the test share of a folder without a split of its own. ``skip_corrupt``: leave
    out unreadable files with a warning instead of stopping. ``mean``/``std``: unused by token ids."""

    modality: Literal["text"] = "text"
    dataset: str = "toy_sentences"
    sentences: int | None = None
    test_sentences: int = 2000
    length: int = 64
    vocab_size: int = 8192
    test_fraction: float = 0.2
    skip_corrupt: bool = False
    mean: list[float] | None = None
    std: list[float] | None = None

    def validate(self) -> None:
        check_minimums("data", self, sentences=1, test_sentences=1, length=2, vocab_size=300)
        if not 0 < self.test_fraction < 1:
            raise ConfigError(f"data.test_fraction must lie in (0, 1), got {self.test_fraction}")


@dataclass
class TextEvalConfig(ImageEvalConfig):
    """The probes' settings (:class:`~openjepa.modalities.image.ImageEvalConfig`) on mean-pooled token features;
    ``top_k``: the nearest words a masked-word prediction is scored by (top-1 and top-``top_k``)."""

    encoder: Literal["target", "context"] = "context"
    max_train: int | None = 20000
    top_k: int = 5

    def validate(self) -> None:
        super().validate()
        check_minimums("eval", self, top_k=1)


def text_set(ids: torch.Tensor, documents: Documents, tokenizer: WordTokenizer | BPETokenizer,
             corpus: Corpus) -> TextSet:
    return TextSet(ids, documents.labels, corpus.classes or ["text"], tokenizer.vocab, documents.texts,
                   documents.focus, corpus.classes is not None)


@MODALITIES.register("text")
class TextModality(Modality):
    name = "text"
    data_config = TextDataConfig
    eval_config = TextEvalConfig
    eval_tasks = ("text_probes",)
    file_suffixes = TEXT_SUFFIXES

    def load(self, cfg: TextDataConfig, spec: InputSpec | None = None) -> TextData:
        corpus = self.builtin(cfg)
        if corpus is None:
            root = self.data_folder(cfg, "class folders of .txt files, or .txt files of one text per line")
            corpus = load_text_folder(root, test_fraction=cfg.test_fraction, seed=0, skip_corrupt=cfg.skip_corrupt)
        if spec is not None:
            tokenizer, length = tokenizer_from_reader(spec.reader), spec.size[1]
        else:
            tokenizer = (WordTokenizer(corpus.words) if corpus.words is not None
                         else BPETokenizer.train(corpus.train.texts, cfg.vocab_size))
            length = cfg.length
        train = tokenizer.encode(corpus.train.texts, length)
        if spec is None:  # a new run reads as many tokens as its longest training text has, at most data.length
            train = train[:, : max(2, int((train > 0).sum(1).max()))]
        test = tokenizer.encode(corpus.test.texts, train.shape[1])
        return TextData(corpus.name, text_set(train, corpus.train, tokenizer, corpus),
                        text_set(test, corpus.test, tokenizer, corpus), tokenizer.reader())

    def spec(self, data: TextData) -> InputSpec:
        return InputSpec(modality=self.name, channels=1, size=(1, data.length), reader=data.reader)

    def build_encoder(self, config: ViTConfig, spec: InputSpec) -> TextEncoder:
        if config.tubelet is not None:
            raise ConfigError("encoder.tubelet is set, but text runs read words, not frames: remove it")
        return TextEncoder(config, vocab_size(spec.reader), spec.size[1])

    def prepare(self, samples: torch.Tensor) -> torch.Tensor:
        """Stacked token ids: as they are (long)."""
        return samples.long()

    def read_files(self, paths: list[str | Path], spec: InputSpec) -> torch.Tensor:
        """``.txt`` files (one text each) or texts as they are -> ids ``(N, L)``: an input that names no file is
        the text itself, unless it ends in ``.txt`` (a file that is missing)."""
        texts = []
        for item in paths:
            path = Path(item)
            if path.suffix.lower() in TEXT_SUFFIXES or path.is_file():
                try:
                    texts.append(" ".join(read_text_file(path).split()))
                except TextReadError as err:
                    raise DataError(str(err)) from None
            else:
                texts.append(str(item))
        return self.read_texts(texts, spec)

    def read_texts(self, texts: list[str], spec: InputSpec) -> torch.Tensor:
        """Texts -> ids ``(N, L)`` by the run's tokenizer; an empty text is an error."""
        empty = [i for i, t in enumerate(texts) if not t.strip()]
        if empty:
            raise DataError(f"text {empty[0] + 1} of {len(texts)} is empty: give at least one word")
        return tokenizer_from_reader(spec.reader).encode(texts, spec.size[1])
