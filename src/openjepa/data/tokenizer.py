"""Text -> word or subword ids ``(N, L)`` (0-padded), and back: the two tokenizers a text run can carry in its spec.

- :class:`WordTokenizer`: a closed vocabulary of whitespace-separated words (the built-in ``toy_sentences``);
  a word outside it is an error, since nothing could stand for it.
- :class:`BPETokenizer`: a byte-level BPE (Hugging Face ``tokenizers``, the ``text`` extra) trained on the corpus
  when a run starts; any text, in any script, has ids.

Both start their vocabularies with :data:`~openjepa.data.text.SPECIAL` (id 0 pads, id 1 hides) and are rebuilt from
``spec.reader`` by :func:`tokenizer_from_reader`, so a run reads users' text offline as it read its corpus.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import torch

from openjepa.core.errors import DataError, MissingExtraError
from openjepa.data.text import SPECIAL


def pad_ids(rows: Sequence[Sequence[int]], length: int) -> torch.Tensor:
    """Id lists -> long ``(N, length)``, each cut to ``length`` or padded with 0."""
    ids = torch.zeros(len(rows), length, dtype=torch.long)
    for i, row in enumerate(rows):
        row = list(row)[:length]
        ids[i, : len(row)] = torch.tensor(row, dtype=torch.long)
    return ids


class WordTokenizer:
    """Whitespace-separated words of a closed ``vocab`` (``vocab[0:2]`` = :data:`SPECIAL`)."""

    def __init__(self, vocab: Sequence[str]):
        self.vocab = list(vocab)
        self.index = {w: i for i, w in enumerate(self.vocab)}

    def __len__(self) -> int:
        return len(self.vocab)

    def split(self, text: str) -> list[str]:
        return text.lower().split()

    def encode(self, texts: Iterable[str], length: int) -> torch.Tensor:
        """Texts -> ids ``(N, length)``; a DataError names the words outside the vocabulary."""
        rows = [self.split(t) for t in texts]
        unknown = sorted({w for row in rows for w in row if w not in self.index})
        if unknown:
            raise DataError(f"words outside the run's vocabulary of {len(self.vocab)}: {', '.join(unknown[:20])}")
        return pad_ids([[self.index[w] for w in row] for row in rows], length)

    def reader(self) -> dict[str, Any]:
        return {"vocab": list(self.vocab)}


def _tokenizers_package() -> Any:
    try:
        import tokenizers
    except ImportError as err:
        raise MissingExtraError("text runs with a subword vocabulary need Hugging Face tokenizers: "
                                "pip install 'openjepa[text]'") from err
    return tokenizers


class BPETokenizer:
    """A byte-level BPE (``tokenizers.Tokenizer``) whose ids 0 and 1 are :data:`SPECIAL`."""

    def __init__(self, tokenizer: Any):
        self.tokenizer = tokenizer
        self.vocab = [tokenizer.id_to_token(i) for i in range(tokenizer.get_vocab_size())]
        if tuple(self.vocab[: len(SPECIAL)]) != SPECIAL:
            raise DataError(f"a text run's BPE must start with {SPECIAL}, this one starts with "
                            f"{self.vocab[: len(SPECIAL)]}")

    @classmethod
    def train(cls, texts: Sequence[str], vocab_size: int) -> BPETokenizer:
        """A byte-level BPE of at most ``vocab_size`` ids learnt on ``texts`` (merges seen at least twice)."""
        tk = _tokenizers_package()
        model = tk.Tokenizer(tk.models.BPE())
        model.pre_tokenizer = tk.pre_tokenizers.ByteLevel(add_prefix_space=True)
        model.decoder = tk.decoders.ByteLevel()
        trainer = tk.trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2, special_tokens=list(SPECIAL),
                                         initial_alphabet=tk.pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
        model.train_from_iterator(texts, trainer=trainer, length=len(texts))
        return cls(model)

    @classmethod
    def from_json(cls, text: str) -> BPETokenizer:
        return cls(_tokenizers_package().Tokenizer.from_str(text))

    def __len__(self) -> int:
        return len(self.vocab)

    def encode(self, texts: Iterable[str], length: int) -> torch.Tensor:
        """Texts -> ids ``(N, length)``, each cut to its first ``length`` subwords."""
        return pad_ids([e.ids for e in self.tokenizer.encode_batch(list(texts))], length)

    def reader(self) -> dict[str, Any]:
        return {"vocab_size": len(self.vocab), "tokenizer": self.tokenizer.to_str()}


def vocab_size(reader: dict[str, Any]) -> int:
    """The number of ids of the tokenizer ``reader`` describes (without building it)."""
    return reader["vocab_size"] if "vocab_size" in reader else len(reader["vocab"])


def tokenizer_from_reader(reader: dict[str, Any]) -> WordTokenizer | BPETokenizer:
    """The tokenizer a text run's ``spec.reader`` describes."""
    if "tokenizer" in reader:
        return BPETokenizer.from_json(reader["tokenizer"])
    return WordTokenizer(reader["vocab"])
