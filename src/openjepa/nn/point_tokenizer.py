"""Point-cloud tokenizer (Point-MAE / Point-JEPA): clouds -> one token per group of neighbouring points, and the
position embedding of the groups' centres.

Departure from the reference: LayerNorm where the reference PointNet has BatchNorm, so a token depends on its
own group only (not on the batch, nor on how a batch is split over processes).
"""

from __future__ import annotations

import torch
from torch import nn

from openjepa.nn.point_groups import PointGroups, group_points


class MiniPointNet(nn.Module):
    """A group's points ``(..., k, 3)`` -> one feature ``(..., D)``, invariant to the order of the k points.

    Shared MLP ``3 -> h0 -> h1`` on every point, max-pool over the group, the pooled feature appended to every
    point (``2 h1``), shared MLP ``2 h1 -> h2 -> D``, max-pool. Point-MAE's sizes: ``hidden=(128, 256, 512)``.
    """

    def __init__(self, dim: int, hidden: tuple[int, int, int] = (128, 256, 512)):
        super().__init__()
        h0, h1, h2 = hidden
        self.first = nn.Sequential(nn.Linear(3, h0), nn.LayerNorm(h0), nn.ReLU(), nn.Linear(h0, h1))
        self.second = nn.Sequential(nn.Linear(2 * h1, h2), nn.LayerNorm(h2), nn.ReLU())
        self.proj = nn.Linear(h2, dim)

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        feature = self.first(points)  # (..., k, h1)
        pooled = feature.amax(-2, keepdim=True).expand_as(feature)
        return self.proj(self.second(torch.cat([pooled, feature], -1))).amax(-2)


class CentreEmbed(nn.Module):
    """Position embedding of group centres (Point-MAE's ``pos_embed``): ``(B, G, 3) -> (B, G, D)``, an MLP
    ``3 -> hidden -> D`` with GELU, added to the tokens in the encoder and to the predictor's queries."""

    def __init__(self, dim: int, hidden: int = 128):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(3, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, centres: torch.Tensor) -> torch.Tensor:
        return self.mlp(centres)


class PointTokenizer(nn.Module):
    """Clouds ``(B, P, 3)`` -> tokens ``(B, G, D)`` and their centres ``(B, G, 3)``.

    ``groups`` (G) centres by farthest point sampling, each with its ``group_size`` nearest points relative to
    it, each group through a :class:`MiniPointNet`. The grouping takes no gradient; ``start`` / ``generator``
    choose the first centre (default point 0: the same cloud always gives the same groups). ``proj`` is the
    last linear map (the one a ViT initialises like a patch projection).
    """

    in_chans = 3

    def __init__(self, dim: int, groups: int = 64, group_size: int = 32,
                 hidden: tuple[int, int, int] = (128, 256, 512)):
        super().__init__()
        if groups < 1 or group_size < 1:
            raise ValueError(f"groups and group_size must be >= 1, got {groups} and {group_size}")
        self.dim, self.groups, self.group_size = dim, groups, group_size
        self.embed = MiniPointNet(dim, hidden)

    @property
    def proj(self) -> nn.Linear:
        return self.embed.proj

    def grid(self, points: int) -> tuple[int]:
        """Token grid ``(G,)`` of clouds of ``points`` points; raises if they are too small to group."""
        if points < max(self.groups, self.group_size):
            raise ValueError(f"clouds of {points} points are too small for {self.groups} groups of "
                             f"{self.group_size} points")
        return (self.groups,)

    def group(self, points: torch.Tensor, *, start: torch.Tensor | None = None,
              generator: torch.Generator | None = None) -> PointGroups:
        if points.ndim != 3 or points.shape[2] != 3:
            raise ValueError(f"expected clouds of shape (B, P, 3), got {tuple(points.shape)}")
        self.grid(points.shape[1])
        return group_points(points, self.groups, self.group_size, start=start, generator=generator)

    def forward(self, points: torch.Tensor, *, start: torch.Tensor | None = None,
                generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        groups = self.group(points, start=start, generator=generator)
        neighbours = groups.neighbours.to(self.proj.weight.dtype)
        return self.embed(neighbours), groups.centres
