"""Action-conditioned latent predictor: a causal transformer over a frame history whose every layer is
modulated by the action taken at that time step (AdaLN-zero, as in DiT and LeWorldModel)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from openjepa.nn.attention import Attention
from openjepa.nn.block import MLP, init_weights
from openjepa.nn.latent import Conditioning


@dataclass
class ActionPredictorConfig:
    """``history``: latents a prediction looks back on (the current one included); ``action_hidden``: width of
    the action encoder's MLP."""

    width: int = 128
    depth: int = 3
    heads: int = 4
    mlp_ratio: float = 4.0
    history: int = 1
    action_hidden: int = 128

    def validate(self) -> None:
        if self.history < 1:
            raise ValueError(f"predictor.history must be >= 1, got {self.history}")
        if self.width % self.heads:
            raise ValueError(f"predictor.width {self.width} is not divisible by predictor.heads {self.heads}")


class ActionEncoder(nn.Module):
    """Actions ``(..., A)`` -> embeddings ``(..., width)``: a two-layer MLP."""

    def __init__(self, action_dim: int, hidden: int, width: int):
        super().__init__()
        self.action_dim = action_dim
        self.net = nn.Sequential(nn.Linear(action_dim, hidden), nn.SiLU(), nn.Linear(hidden, width))

    def forward(self, actions: torch.Tensor) -> torch.Tensor:
        if actions.shape[-1] != self.action_dim:
            raise ValueError(f"actions must end in {self.action_dim} values (action size x frameskip), "
                             f"got shape {tuple(actions.shape)}")
        return self.net(actions)


class AdaLNZeroBlock(nn.Module):
    """Pre-norm transformer layer ``(B, T, D) -> (B, T, D)`` whose norms' shift/scale and residual gates
    ``modulation (B, T, 6 D)`` come from the condition; the predictor computes every block's modulation in
    one product and starts the gates at zero, so the block starts as the identity."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.mlp = MLP(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor, modulation: torch.Tensor, attn_mask: torch.Tensor | None) -> torch.Tensor:
        shift1, scale1, gate1, shift2, scale2, gate2 = modulation.chunk(6, dim=-1)
        x = x + gate1 * self._attend(self.norm1(x) * (1 + scale1) + shift1, attn_mask)
        return x + gate2 * self.mlp(self.norm2(x) * (1 + scale2) + shift2)

    def _attend(self, x: torch.Tensor, attn_mask: torch.Tensor | None) -> torch.Tensor:
        if x.shape[1] > 1:
            return self.attn(x, attn_mask)
        # one token attends only to itself: the output is its value, projected (what planning runs)
        dim = x.shape[-1]
        qkv = self.attn.qkv
        bias = None if qkv.bias is None else qkv.bias[2 * dim :]
        return self.attn.proj(F.linear(x, qkv.weight[2 * dim :], bias))


class ActionPredictor(nn.Module):
    """One history window of latents ``z (B, W, Dz)``, ``W <= history``, and the action taken after each
    ``(B, W, A)`` -> predicted next latents ``(B, W, Dz)``: output t predicts ``z[t + 1]`` from ``z[..t]``
    (causal). Time embeddings count back from the window's end, so the newest latent always has the same
    one whatever the window's length; :meth:`next_latents` slides windows over longer sequences."""

    def __init__(self, config: ActionPredictorConfig, latent_dim: int, action_dim: int):
        super().__init__()
        config.validate()
        self.config = config
        self.action_encoder = ActionEncoder(action_dim, config.action_hidden, config.width)
        self.embed = nn.Linear(latent_dim, config.width)
        self.time_embed = nn.Parameter(torch.zeros(1, config.history, config.width))
        self.blocks = nn.ModuleList(AdaLNZeroBlock(config.width, config.heads, config.mlp_ratio)
                                    for _ in range(config.depth))
        self.modulation = nn.Sequential(nn.SiLU(), nn.Linear(config.width, config.depth * 6 * config.width))
        self.norm = nn.LayerNorm(config.width, eps=1e-6)
        self.out = nn.Linear(config.width, latent_dim)
        self.apply(init_weights)
        nn.init.trunc_normal_(self.time_embed, std=0.02)
        nn.init.zeros_(self.modulation[1].weight)
        nn.init.zeros_(self.modulation[1].bias)

    def forward(self, z: torch.Tensor, actions: torch.Tensor, condition: Conditioning | None = None) -> torch.Tensor:
        """``condition``: a latent variable's (:mod:`openjepa.nn.latent`: what happened that the actions do not
        say): its embedding ``(B, width)`` is added to the actions' embeddings, its readout to the predictions."""
        B, W, _ = z.shape
        if actions.shape[:2] != (B, W):
            raise ValueError(f"need one action per latent: latents {tuple(z.shape)}, actions {tuple(actions.shape)}")
        if W > self.config.history:
            raise ValueError(f"a window of {W} latents exceeds predictor.history={self.config.history}")
        x = self.embed(z) + self.time_embed[:, self.config.history - W :]
        cond = self.action_encoder(actions)
        if condition is not None:
            cond = cond + condition.embedding[:, None]
        modulation = self.modulation(cond).chunk(len(self.blocks), dim=-1)
        mask = None if W == 1 else torch.ones(W, W, dtype=torch.bool, device=z.device).tril()
        for block, mod in zip(self.blocks, modulation):
            x = block(x, mod, mask)
        hidden = self.norm(x)
        return self.out(hidden) if condition is None else self.out(hidden) + condition.readout(hidden)

    def windows(self, z: torch.Tensor, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The full windows of ``h = history`` latents of ``z (B, T, Dz)`` and of their actions ``(B, T, A)``:
        ``(B (T - h + 1), h, Dz)`` and ``(B (T - h + 1), h, A)``; row ``b (T - h + 1) + t`` ends at
        ``z[b, t + h - 1]``."""
        h = self.config.history
        if z.shape[1] < h:
            raise ValueError(f"{z.shape[1]} latents are fewer than predictor.history={h}")
        return (z.unfold(1, h, 1).permute(0, 1, 3, 2).reshape(-1, h, z.shape[-1]),
                actions.unfold(1, h, 1).permute(0, 1, 3, 2).reshape(-1, h, actions.shape[-1]))

    def next_latents(self, z: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """Teacher-forced predictions ``(B, T - h + 1, Dz)`` of ``z[h..T]`` for latents ``z (B, T, Dz)`` and
        actions ``(B, T, A)``, each from the full window of the ``h = history`` latents before it."""
        windows, acts = self.windows(z, actions)
        return self(windows, acts)[:, -1].reshape(len(z), -1, z.shape[-1])
