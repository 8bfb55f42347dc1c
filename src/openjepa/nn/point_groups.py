"""Point-cloud grouping as pure batched functions: farthest point sampling, k-nearest-neighbour groups, Point-JEPA's
sequencer (groups ordered by a greedy nearest-centre walk) and 3D-JEPA-style neighbourhoods of group centres.

Indices are int64; geometry is computed in float32 whatever the input dtype. Random choices (a start point) come
from an explicit ``torch.Generator`` (on the CPU), so a caller seeds them per sample or per step.
"""

from __future__ import annotations

from typing import NamedTuple

import torch


def take(values: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Per-sample indexing along axis 1: ``values (B, N, *F)``, ``index (B, *S)`` -> ``(B, *S, *F)``."""
    B, N, *feature = values.shape
    flat = values.reshape(B, N, -1)
    picked = torch.gather(flat, 1, index.reshape(B, -1, 1).expand(-1, -1, flat.shape[2]))
    return picked.reshape(*index.shape, *feature)


def _starts(batch: int, size: int, start: torch.Tensor | None, generator: torch.Generator | None,
            device: torch.device) -> torch.Tensor:
    if start is not None:
        return start.to(device=device, dtype=torch.long)
    if generator is None:
        return torch.zeros(batch, dtype=torch.long, device=device)
    return torch.randint(size, (batch,), generator=generator, device=generator.device).to(device)


@torch.no_grad()
def farthest_point_sample(points: torch.Tensor, count: int, *, start: torch.Tensor | None = None,
                          generator: torch.Generator | None = None) -> torch.Tensor:
    """Indices ``(B, count)`` of ``count`` points of ``points (B, P, 3)``, each the farthest from those before it.

    The first is ``start (B,)``, else drawn from ``generator``, else point 0. Ties go to the lowest index.
    """
    B, P, _ = points.shape
    if not 1 <= count <= P:
        raise ValueError(f"cannot sample {count} centres from clouds of {P} points")
    xyz = points.float().transpose(1, 2).contiguous()  # (B, 3, P): 2-3x faster on the CPU than (B, P, 3)
    rows = torch.arange(B, device=xyz.device)
    current = _starts(B, P, start, generator, xyz.device)
    chosen = torch.empty(B, count, dtype=torch.long, device=xyz.device)
    nearest = torch.full((B, P), float("inf"), device=xyz.device)
    for i in range(count):
        chosen[:, i] = current
        torch.minimum(nearest, (xyz - xyz[rows, :, current][:, :, None]).square_().sum(1), out=nearest)
        current = nearest.argmax(1)
    return chosen


@torch.no_grad()
def knn_indices(queries: torch.Tensor, points: torch.Tensor, k: int) -> torch.Tensor:
    """Indices ``(B, Q, k)`` of the ``k`` points of ``points (B, P, 3)`` nearest each of ``queries (B, Q, 3)``,
    nearest first."""
    if not 1 <= k <= points.shape[1]:
        raise ValueError(f"cannot take {k} neighbours from clouds of {points.shape[1]} points")
    distances = torch.cdist(queries.float(), points.float())
    return distances.topk(k, dim=-1, largest=False, sorted=True).indices


class PointGroups(NamedTuple):
    """``centres (B, G, 3)``; ``neighbours (B, G, k, 3)``: each group's points relative to its centre, nearest
    first (the centre itself, at 0, is the first); ``index (B, G, k)``: those points' indices in the cloud;
    ``centre_index (B, G)``: the centres' indices."""

    centres: torch.Tensor
    neighbours: torch.Tensor
    index: torch.Tensor
    centre_index: torch.Tensor


def group_points(points: torch.Tensor, groups: int, size: int, *, start: torch.Tensor | None = None,
                 generator: torch.Generator | None = None) -> PointGroups:
    """Point-MAE's grouping of ``points (B, P, 3)``: ``groups`` farthest-point-sampled centres, each with its
    ``size`` nearest points (groups overlap). ``start`` / ``generator``: the first centre, as in
    :func:`farthest_point_sample`."""
    centre_index = farthest_point_sample(points, groups, start=start, generator=generator)
    centres = take(points, centre_index)
    index = knn_indices(centres, points, size)
    neighbours = take(points, index) - centres[:, :, None]
    return PointGroups(centres, neighbours, index, centre_index)


@torch.no_grad()
def sequence_order(centres: torch.Tensor, *, start: torch.Tensor | None = None,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """Point-JEPA's sequencer: a permutation ``(B, G)`` of the groups whose consecutive entries are spatially
    close, so a contiguous range of the sequence is a compact region.

    A greedy walk over ``centres (B, G, 3)``: it starts at ``start (B,)``, else at one drawn from ``generator``,
    else at the centre with the smallest ``x + y + z`` (the reference's ``min_start``), and each next step goes
    to the nearest centre not yet visited. Reorder groups with ``take(values, order)``.
    """
    B, G, _ = centres.shape
    xyz = centres.float()
    if start is None and generator is None:
        start = xyz.sum(-1).argmin(1)
    current = _starts(B, G, start, generator, xyz.device)
    distances = torch.cdist(xyz, xyz)
    rows = torch.arange(B, device=xyz.device)
    visited = torch.zeros(B, G, dtype=torch.bool, device=xyz.device)
    order = torch.empty(B, G, dtype=torch.long, device=xyz.device)
    for i in range(G):
        order[:, i] = current
        visited[rows, current] = True
        if i + 1 < G:
            current = distances[rows, current].masked_fill(visited, float("inf")).argmin(1)
    return order


@torch.no_grad()
def ball_groups(centres: torch.Tensor, chosen: torch.Tensor, radius: float | torch.Tensor) -> torch.Tensor:
    """3D-JEPA-style blocks by radius: ``(B, K, G)`` bool, the groups whose centres lie within ``radius``
    (a number, or ``(B, K)``) of each chosen group ``chosen (B, K)`` (the chosen group included)."""
    distances = torch.cdist(take(centres, chosen).float(), centres.float())
    radius = torch.as_tensor(radius, dtype=distances.dtype, device=distances.device)
    return distances <= (radius[..., None] if radius.ndim else radius)


@torch.no_grad()
def nearest_groups(centres: torch.Tensor, chosen: torch.Tensor, count: int) -> torch.Tensor:
    """3D-JEPA-style blocks of a fixed size: ``(B, K, count)`` indices of the ``count`` groups nearest each chosen
    group ``chosen (B, K)`` among ``centres (B, G, 3)``, nearest first (the chosen one, at 0)."""
    return knn_indices(take(centres, chosen), centres, count)
