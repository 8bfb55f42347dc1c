"""An agent's observation as tokens: the frame's patch tokens from a ViT, then one token of its proprioceptive state
(standardised by running batch statistics, so joint angles, velocities and positions of any scale enter alike)."""

from __future__ import annotations

import torch
from torch import nn

from openjepa.nn.vit import ViT


class ObservationEncoder(nn.Module):
    """Normalised frames ``(B, C, H, W)`` and states ``(B, S)`` -> tokens ``(B, N + 1, D)`` (``(B, N, D)`` when
    ``state_dim`` is 0); :meth:`latent` pools them into one vector ``(B, D)``."""

    def __init__(self, encoder: ViT, state_dim: int):
        super().__init__()
        self.encoder, self.state_dim = encoder, state_dim
        if state_dim:
            self.state_norm = nn.BatchNorm1d(state_dim, affine=False, momentum=None)
            self.state_token = nn.Linear(state_dim, encoder.width)

    @property
    def width(self) -> int:
        return self.encoder.width

    def forward(self, frames: torch.Tensor, state: torch.Tensor | None = None) -> torch.Tensor:
        tokens = self.encoder(frames)
        if not self.state_dim:
            return tokens
        if state is None or state.shape[-1] != self.state_dim:
            raise ValueError(f"this observation encoder reads states of size {self.state_dim}, got "
                             f"{None if state is None else tuple(state.shape)}")
        return torch.cat([tokens, self.state_token(self.state_norm(state.float()))[:, None].to(tokens)], 1)

    def latent(self, frames: torch.Tensor, state: torch.Tensor | None = None) -> torch.Tensor:
        """The observation's latent: the mean of its tokens, ``(B, D)``."""
        return self.forward(frames, state).mean(1)
