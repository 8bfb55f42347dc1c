"""Sentences as word ids: the splits a text run reads, and the special words every vocabulary starts with (id 0
pads, id 1 marks a hidden word)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

PAD, MASK = "<pad>", "<mask>"
SPECIAL = (PAD, MASK)


@dataclass
class TextSet:
    """``ids`` long ``(S, L)`` (0-padded, ``vocab`` starts with :data:`SPECIAL`); ``focus`` long ``(S,)``: the
    position of each sentence's focus word (the one a text JEPA hides most, and evaluation hides always);
    ``labels`` long ``(S,)``: an index of ``classes`` per sentence."""

    ids: torch.Tensor
    focus: torch.Tensor
    labels: torch.Tensor
    classes: list[str]
    vocab: list[str]

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Sentence ``index``'s ids ``(L,)``, with its ``label`` and ``focus``."""
        return self.ids[index], {"label": self.labels[index], "focus": self.focus[index]}

    @property
    def labeled(self) -> bool:
        return True

    def words(self, index: int) -> str:
        """Sentence ``index`` as text."""
        return " ".join(self.vocab[i] for i in self.ids[index].tolist() if i)


@dataclass
class TextData:
    name: str
    train: TextSet
    test: TextSet

    @property
    def channels(self) -> int:
        return 1

    @property
    def length(self) -> int:
        return self.train.ids.shape[1]

    def channel_stats(self) -> tuple[list[float], list[float]]:
        """Word ids are not normalised: mean 0, std 1."""
        return [0.0], [1.0]
