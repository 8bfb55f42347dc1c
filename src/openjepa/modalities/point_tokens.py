"""Point-cloud tokenizer for the ViT: clouds ``(B, 3, P)`` -> one token per group of neighbouring points, in the
order of Point-JEPA's sequencer, each carrying the embedding of its group's centre (the ViT adds no positions of
its own: ``encoder.pos_embed: none``)."""

from __future__ import annotations

import torch
from torch import nn

from openjepa.nn.point_groups import group_points, sequence_order, take
from openjepa.nn.point_tokenizer import CentreEmbed, MiniPointNet


class PointCloudEmbed(nn.Module):
    """``(B, 3, P) -> (B, G, D)``: ``groups`` farthest-point-sampled centres (the first: point 0, so a cloud always
    gives the same groups), each with its ``group_size`` nearest points relative to it through a
    :class:`~openjepa.nn.point_tokenizer.MiniPointNet`, plus a :class:`~openjepa.nn.point_tokenizer.CentreEmbed` of
    the centre; tokens ordered by the sequencer (a greedy nearest-centre walk), so token ids that are close are
    groups that are close. Methods that mask in 3-D call :meth:`group` and :meth:`embed` themselves."""

    in_chans = 3

    def __init__(self, dim: int, groups: int, group_size: int, hidden: tuple[int, int, int] = (128, 256, 512)):
        super().__init__()
        if groups < 1 or group_size < 1:
            raise ValueError(f"groups and group_size must be >= 1, got {groups} and {group_size}")
        self.groups, self.group_size = groups, group_size
        self.points_net = MiniPointNet(dim, hidden)
        self.centre_embed = CentreEmbed(dim)

    @property
    def proj(self) -> nn.Linear:
        return self.points_net.proj

    def grid(self, points: int) -> tuple[int]:
        """Token grid ``(G,)`` of clouds of ``points`` points; raises if they are too small to group."""
        if points < max(self.groups, self.group_size):
            raise ValueError(f"clouds of {points} points are too small for {self.groups} groups of "
                             f"{self.group_size} points")
        return (self.groups,)

    @torch.no_grad()
    def group(self, clouds: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Clouds ``(B, 3, P)`` -> centres ``(B, G, 3)`` and neighbourhoods ``(B, G, k, 3)`` (relative to their
        centre), in sequencer order."""
        if clouds.ndim != 3 or clouds.shape[1] != 3:
            raise ValueError(f"expected clouds of shape (B, 3, P), got {tuple(clouds.shape)}")
        self.grid(clouds.shape[2])
        grouped = group_points(clouds.transpose(1, 2).float(), self.groups, self.group_size)
        order = sequence_order(grouped.centres)
        return take(grouped.centres, order), take(grouped.neighbours, order)

    def embed(self, centres: torch.Tensor, neighbours: torch.Tensor) -> torch.Tensor:
        """Tokens ``(B, G, D)`` of grouped clouds."""
        dtype = self.proj.weight.dtype
        return self.points_net(neighbours.to(dtype)) + self.centre_embed(centres.to(dtype))

    def forward(self, clouds: torch.Tensor) -> torch.Tensor:
        return self.embed(*self.group(clouds))
