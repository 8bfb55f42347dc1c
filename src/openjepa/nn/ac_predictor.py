"""Action-conditioned token predictor in the style of V-JEPA 2-AC: a transformer over a sequence of frames, each
time step holding an action token, a state (proprioception) token when the data has a state, and the frame's
patch tokens; attention is block-causal (every token of time t sees all tokens of times <= t), so one pass
predicts every next frame of a window at once (teacher forcing) and an output never depends on a later input.
Because of that, frames can also be fed a few at a time against a cache of the earlier frames' keys and values
(what a rollout does: each new frame costs one frame's tokens, not the whole window again)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from openjepa.nn.attention import attention
from openjepa.nn.block import Block, init_weights, rescale_residual_branches

KVCache = list[tuple[torch.Tensor, torch.Tensor]]  # per block: keys and values (B, heads, L, head dim) of L tokens


@dataclass
class ACPredictorConfig:
    """``frames``: the most frames a sequence may hold (one learned time position each, counted from its first
    frame): a training window's frames but the last, and a plan's history plus horizon minus one."""

    width: int = 1024
    depth: int = 24
    heads: int = 16
    mlp_ratio: float = 4.0
    frames: int = 16

    def validate(self) -> None:
        if self.frames < 1:
            raise ValueError(f"predictor.frames must be >= 1, got {self.frames}")
        if self.width % self.heads:
            raise ValueError(f"predictor.width {self.width} is not divisible by predictor.heads {self.heads}")


def block_causal_mask(frames: int, tokens_per_frame: int) -> torch.Tensor:
    """Bool ``(frames K, frames K)`` for tokens laid out frame after frame, K per frame: query i may attend key j
    (True) iff j's frame is not after i's."""
    time = torch.arange(frames).repeat_interleave(tokens_per_frame)
    return time[None, :] <= time[:, None]


def _layer(block: Block, x: torch.Tensor, mask: torch.Tensor | None,
           past: tuple[torch.Tensor, torch.Tensor] | None) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
    """``block`` on new tokens ``x (B, L, W)`` that also attend the cached ``past`` keys and values; ``mask``
    ``(L, past + L)``. Returns the output and the keys and values of past and new tokens."""
    B, L, W = x.shape
    heads = block.attn.heads
    q, k, v = block.attn.qkv(block.norm1(x)).view(B, L, 3, heads, W // heads).permute(2, 0, 3, 1, 4)
    if past is not None:
        k, v = torch.cat([past[0], k], 2), torch.cat([past[1], v], 2)
    out = attention(q, k, v, mask).transpose(1, 2).reshape(B, L, W)
    x = x + block.attn.proj(out)
    return x + block.mlp(block.norm2(x)), (k, v)


class ACPredictor(nn.Module):
    """Frame tokens ``(B, T, N, Dz)``, the action taken after each frame ``(B, T, A)`` and, with ``state_dim > 0``,
    each frame's state ``(B, T, S)`` -> predicted tokens ``(B, T, N, Dz)`` and states ``(B, T, S)`` (None without
    a state) of the frames that follow, output t from inputs at times <= t, and the cache of the whole sequence.
    Given the ``cache`` of earlier frames, the T frames continue that sequence (at most ``config.frames`` frames
    in all).

    A time step's tokens are ``[action, state, patch 1..N]``, each embedded linearly, plus a learned time position
    and a learned slot position (one per token of a step). A frame's predicted tokens are its own tokens plus
    the output head's (zero-initialised) change, so the predictor starts as the copy-forward baseline; states
    alike."""

    def __init__(self, config: ACPredictorConfig, token_dim: int, tokens_per_frame: int, action_dim: int,
                 state_dim: int):
        super().__init__()
        config.validate()
        self.config, self.tokens_per_frame, self.action_dim, self.state_dim = config, tokens_per_frame, action_dim, state_dim
        width = config.width
        self.token_embed = nn.Linear(token_dim, width)
        self.action_embed = nn.Linear(action_dim, width)
        self.state_embed = nn.Linear(state_dim, width) if state_dim else None
        self.extra_tokens = 1 + bool(state_dim)  # action (and state) tokens ahead of the patches of a step
        self.slots = self.extra_tokens + tokens_per_frame
        self.time_pos = nn.Parameter(torch.zeros(config.frames, 1, width))
        self.slot_pos = nn.Parameter(torch.zeros(self.slots, width))
        self.blocks = nn.ModuleList(Block(width, config.heads, config.mlp_ratio) for _ in range(config.depth))
        self.norm = nn.LayerNorm(width, eps=1e-6)
        self.token_head = nn.Linear(width, token_dim)
        self.state_head = nn.Linear(width, state_dim) if state_dim else None
        self.register_buffer("mask", block_causal_mask(config.frames, self.slots), persistent=False)
        self.apply(init_weights)
        nn.init.trunc_normal_(self.time_pos, std=0.02)
        nn.init.trunc_normal_(self.slot_pos, std=0.02)
        for head in (self.token_head, self.state_head):
            if head is not None:
                nn.init.zeros_(head.weight)
        rescale_residual_branches(self.blocks)

    def forward(self, tokens: torch.Tensor, actions: torch.Tensor, states: torch.Tensor | None = None,
                cache: KVCache | None = None) -> tuple[torch.Tensor, torch.Tensor | None, KVCache]:
        B, T, N, _ = tokens.shape
        first = 0 if cache is None else cache[0][0].shape[2] // self.slots  # frames already in the cache
        self._check(tokens, actions, states, first)
        steps = [self.action_embed(actions)[:, :, None]]
        if self.state_embed is not None:
            steps.append(self.state_embed(states)[:, :, None])
        x = torch.cat([*steps, self.token_embed(tokens)], 2) + self.time_pos[first : first + T] + self.slot_pos
        x = x.reshape(B, T * self.slots, -1)
        K = self.slots
        # one new frame sees every token so far: no mask needed
        mask = None if T == 1 else self.mask[first * K : (first + T) * K, : (first + T) * K]
        new_cache = []
        for i, block in enumerate(self.blocks):
            x, kv = _layer(block, x, mask, None if cache is None else cache[i])
            new_cache.append(kv)
        x = self.norm(x).reshape(B, T, K, -1)
        predicted_states = None if self.state_head is None else states + self.state_head(x[:, :, 1])
        return tokens + self.token_head(x[:, :, self.extra_tokens :]), predicted_states, new_cache

    def _check(self, tokens: torch.Tensor, actions: torch.Tensor, states: torch.Tensor | None, first: int) -> None:
        B, T, N, _ = tokens.shape
        if N != self.tokens_per_frame:
            raise ValueError(f"frames must have {self.tokens_per_frame} tokens, got tokens {tuple(tokens.shape)}")
        if first + T > self.config.frames:
            raise ValueError(f"a sequence of {first + T} frames exceeds predictor.frames={self.config.frames}")
        if actions.shape != (B, T, self.action_dim):
            raise ValueError(f"need one action of {self.action_dim} values (action size x frameskip) per frame: "
                             f"tokens {tuple(tokens.shape)}, actions {tuple(actions.shape)}")
        if self.state_dim and (states is None or states.shape != (B, T, self.state_dim)):
            got = None if states is None else tuple(states.shape)
            raise ValueError(f"this predictor reads a state of {self.state_dim} values per frame: need states "
                             f"{(B, T, self.state_dim)}, got {got}")
