"""Packing: the real tokens of a padded batch as one flat sequence, so that linear layers, MLPs and norms skip pads.

A batch of variable-length token sets is padded to ``(B, L, D)``; :class:`Packing` holds where the real tokens lie
and moves tensors between that layout and the packed ``(T, D)`` one (``T`` real tokens). Blocks run everything but
attention on packed tokens; attention scatters its queries, keys and values back to ``(B, L, .)`` for the masked
kernel (a small share of the work at ViT widths) and packs its output again.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Packing:
    """``index (T,)``: the flat positions in ``B * L`` of the real tokens, in order; ``batch``, ``length``: B, L."""

    index: torch.Tensor
    batch: int
    length: int

    @staticmethod
    def of(valid: torch.Tensor | None) -> Packing | None:
        """The packing of ``valid (B, L)`` (True = real token), or None when nothing is padded."""
        if valid is None or bool(valid.all()):
            return None
        return Packing(valid.reshape(-1).nonzero().squeeze(1), *valid.shape)

    def pack(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, L, ...) -> (T, ...)``."""
        return x.reshape(self.batch * self.length, *x.shape[2:]).index_select(0, self.index)

    def unpack(self, x: torch.Tensor) -> torch.Tensor:
        """``(T, ...) -> (B, L, ...)``, zeros at the pads."""
        out = x.new_zeros(self.batch * self.length, *x.shape[1:]).index_copy(0, self.index, x)
        return out.view(self.batch, self.length, *x.shape[1:])
