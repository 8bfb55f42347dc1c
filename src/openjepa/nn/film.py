"""Per-layer FiLM guidance with tanh gates (ThinkJEPA): a condition vector per sample scales and shifts the tokens
of each layer of a network, ``h -> h * (1 + tanh(g_l) * gamma_l) + tanh(g_l) * beta_l``.

``(gamma_l, beta_l)`` are a linear map of the sample's condition (one per layer); ``g_l`` is a learnt scalar per
layer starting at 0, so guidance starts as the identity and opens as the gate learns. The maps start at PyTorch's
default initialisation, not at zero: with both the maps and the gates at zero, neither would ever get a gradient
(each one's gradient is a product with the other).
"""

from __future__ import annotations

import torch
from torch import nn


class FiLMGuidance(nn.Module):
    """Conditions ``(B, C)`` -> per-layer modulation of tokens ``(B, N, W)``: ``modulations(cond)`` once, then
    ``apply(layer, h, modulation)`` before each layer."""

    def __init__(self, cond_dim: int, width: int, layers: int):
        super().__init__()
        self.maps = nn.ModuleList(nn.Linear(cond_dim, 2 * width) for _ in range(layers))
        self.gates = nn.Parameter(torch.zeros(layers))

    def modulations(self, cond: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Each layer's gated ``(scale, shift)``, ``(B, 1, W)`` each: one per sample."""
        if cond.ndim != 2:
            raise ValueError(f"guidance conditions must be (B, C), one per sample, got {tuple(cond.shape)}")
        gates = torch.tanh(self.gates)
        return [tuple((gate * part)[:, None] for part in film(cond).chunk(2, -1))
                for film, gate in zip(self.maps, gates)]

    @staticmethod
    def apply(h: torch.Tensor, modulation: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        """``h (B, N, W) * (1 + scale) + shift``."""
        scale, shift = modulation
        return h * (1 + scale) + shift

    def gate_openness(self) -> torch.Tensor:
        """Mean ``|tanh(g_l)|`` over layers: 0 while guidance is the identity."""
        return torch.tanh(self.gates).abs().mean()
