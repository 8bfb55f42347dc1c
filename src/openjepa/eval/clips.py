"""Clips for frozen-feature evaluation: reading a split's clips in batches, their token features (whole clips, each
time step on its own, a still first frame, flipped), flipped labels, and per-token sprite targets."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from openjepa.data.augment import IDENTITY, Symmetry, flipped
from openjepa.eval.features import encoder_features


def clips_at(split, idx: torch.Tensor) -> torch.Tensor:
    """uint8 clips ``(b, C, T, H, W)`` of a split at ``idx (b,)``: held in memory, or decoded item by item."""
    if hasattr(split, "clips"):
        return split.clips[idx]
    return torch.stack([split[int(i)][0] for i in idx])


def clip_batches(split, limit: int | None, batch_size: int):
    """uint8 clips ``(b, C, T, H, W)`` of the first ``limit`` items of a split, in order."""
    n = len(split) if limit is None else min(limit, len(split))
    for start in range(0, n, batch_size):
        yield clips_at(split, torch.arange(start, min(n, start + batch_size)))


def still_clips(clips: torch.Tensor) -> torch.Tensor:
    """Every frame replaced by the first: ``(B, C, T, H, W)``, no motion left."""
    return clips[:, :, :1].expand_as(clips)


class StepwiseEncoder(torch.nn.Module):
    """A video encoder applied to each tubelet time step of a clip on its own: clips ``(B, C, T, H, W)`` -> tokens
    ``(B, N, D)`` in the encoder's order; a step's tokens attend only to each other, at their own positions, as a
    one-step context is encoded in training."""

    def __init__(self, encoder: torch.nn.Module):
        super().__init__()
        self.encoder = encoder

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens, grid = self.encoder.tokenize(x), self.encoder.input_grid(x)
        steps = torch.arange(tokens.shape[1], device=x.device).view(grid[0], math.prod(grid[1:]))
        return torch.cat([self.encoder.encode(tokens, keep=step.expand(len(x), -1), grid=grid) for step in steps], 1)


def token_features(encoder: torch.nn.Module, normalize: torch.nn.Module, split, *, limit: int | None = None,
                   batch_size: int = 64, device: torch.device | str = "cpu", bf16: bool = False,
                   still: bool = False, symmetry: Symmetry = IDENTITY) -> torch.Tensor:
    """Frozen token features ``(N, L, D)`` (float16, CPU) of a split's clips, or of their first frames held still,
    flipped by ``symmetry``."""
    return torch.cat([
        encoder_features(encoder, normalize, flipped(still_clips(clips) if still else clips, symmetry), pool=False,
                         batch_size=batch_size, device=device, bf16=bf16).half()
        for clips in clip_batches(split, limit, batch_size)])


def flipped_labels(split, label: str, symmetry: Symmetry) -> torch.Tensor:
    """A split's ``label`` ``(N,)`` once its clips are flipped by ``symmetry``: by the dataset's own rule (the sprites
    turn their directions), else unchanged (class labels such as actions, for which the user chose the flips)."""
    if hasattr(split, "flipped_labels"):
        return split.flipped_labels(label, symmetry)
    return split.labels[label]


def token_occupancy(masks: torch.Tensor, tubelet: int, patch: int) -> torch.Tensor:
    """Per-token share of sprite pixels ``(N, L)`` from masks ``(N, T, H, W)``, tokens in raster order."""
    pooled = F.avg_pool3d(masks[:, None].float(), kernel_size=(tubelet, patch, patch))
    return pooled.flatten(1)


def token_motion(occupancy: torch.Tensor, velocity: torch.Tensor, tubelet: int) -> torch.Tensor:
    """Per-token sprite motion ``(N, L, 2)``: each token's share of sprite pixels (``occupancy (N, L)``, from
    :func:`token_occupancy`) times the sprite's mean displacement (dx, dy) per frame between the token's first
    and last frames (with one-frame tokens: to the next frame), from ``velocity (N, T, 2)`` (frame t to t+1);
    0 where there is no sprite. Tokens in raster order."""
    n, steps = len(velocity), velocity.shape[1] // tubelet
    moves = velocity[:, : steps * tubelet].float().view(n, steps, tubelet, 2)[:, :, : max(1, tubelet - 1)]
    return (occupancy.view(n, steps, -1, 1) * moves.mean(2)[:, :, None]).flatten(1, 2)
