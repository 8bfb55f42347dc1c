"""Text as a run reads it: documents as written (:class:`Documents`, what corpora give), then as ids
(:class:`TextSet`, what training and evaluation read), and the special words every vocabulary starts with (id 0
pads, id 1 marks a hidden word)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

PAD, MASK = "<pad>", "<mask>"
SPECIAL = (PAD, MASK)


@dataclass
class Documents:
    """One split of a corpus: ``texts`` as written, ``labels`` long ``(S,)`` (an index of the corpus's classes;
    all 0 when it has none), ``focus`` long ``(S,)`` or None: the word position each text is about (the one a
    text JEPA hides most and evaluation hides always; word-level corpora only)."""

    texts: list[str]
    labels: torch.Tensor
    focus: torch.Tensor | None = None


@dataclass
class Corpus:
    """Both splits of a text corpus, its ``classes`` (None: unlabelled) and ``words``: its closed vocabulary
    (whitespace-separated words, special words first), or None when a subword vocabulary is learnt from it."""

    name: str
    train: Documents
    test: Documents
    classes: list[str] | None
    words: list[str] | None = None


@dataclass
class TextSet:
    """``ids`` long ``(S, L)`` (0-padded; ``vocab`` starts with :data:`SPECIAL`), ``labels`` long ``(S,)``,
    ``texts`` as written, ``focus`` as in :class:`Documents`."""

    ids: torch.Tensor
    labels: torch.Tensor
    classes: list[str]
    vocab: list[str]
    texts: list[str]
    focus: torch.Tensor | None = None
    labeled: bool = True

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Text ``index``'s ids ``(L,)``, with its ``label`` (and ``focus`` when the set has one)."""
        extras = {"label": self.labels[index]}
        if self.focus is not None:
            extras["focus"] = self.focus[index]
        return self.ids[index], extras

    def subset(self, keep: torch.Tensor) -> TextSet:
        """The texts at ``keep`` (indices)."""
        return TextSet(self.ids[keep], self.labels[keep], self.classes, self.vocab,
                       [self.texts[i] for i in keep.tolist()], None if self.focus is None else self.focus[keep],
                       self.labeled)


@dataclass
class TextData:
    """Both splits as ids, and ``reader``: the description of the tokenizer that made them (a run's
    ``spec.reader``, :func:`~openjepa.data.tokenizer.tokenizer_from_reader`)."""

    name: str
    train: TextSet
    test: TextSet
    reader: dict[str, Any]

    @property
    def channels(self) -> int:
        return 1

    @property
    def length(self) -> int:
        return self.train.ids.shape[1]

    def channel_stats(self) -> tuple[list[float], list[float]]:
        """Word ids are not normalised: mean 0, std 1."""
        return [0.0], [1.0]
