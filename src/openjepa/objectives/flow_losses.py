"""MC-JEPA's flow losses and the flow metric, on maps ``(B, C, H, W)`` and flows ``(B, 2, H, W)`` (see
:mod:`openjepa.nn.flow_ops` for the flow convention).

- ``photometric_loss``: the second frame (or feature map) warped by the flow must match the first (Charbonnier
  penalty, robust to the pixels that no flow explains: occlusions, things entering the view);
- ``smoothness_loss``: flow gradients, damped where the image has edges (motion boundaries follow image edges);
- ``cycle_loss``: the forward flow followed by the backward flow must come back to the start;
- ``occluded``: pixels whose forward and backward flows disagree (UnFlow's test): hidden in the second frame, so
  no flow explains them and the photometric loss leaves them out;
- ``endpoint_error``: the mean length of the difference to a true flow, over the pixels ``valid`` marks.
"""

from __future__ import annotations

import torch

from openjepa.nn.flow_ops import warp


def charbonnier(x: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    return (x.float().square() + eps ** 2).sqrt()


def photometric_loss(first: torch.Tensor, second: torch.Tensor, flow: torch.Tensor,
                     valid: torch.Tensor | None = None) -> torch.Tensor:
    """Mean Charbonnier distance between ``first`` and ``second`` warped by ``flow``, over the pixels where
    ``valid (B, H, W)`` is True (all when None)."""
    distance = charbonnier(first - warp(second, flow)).mean(1)
    if valid is None:
        return distance.mean()
    return (distance * valid).sum() / valid.sum().clamp_min(1)


def smoothness_loss(flow: torch.Tensor, image: torch.Tensor, edge_weight: float = 10.0) -> torch.Tensor:
    """Mean absolute first differences of the flow along x and y, each weighted by ``exp(-edge_weight * |image
    difference|)`` (channel mean)."""
    dx_flow = (flow[..., :, 1:] - flow[..., :, :-1]).abs().mean(1)
    dy_flow = (flow[..., 1:, :] - flow[..., :-1, :]).abs().mean(1)
    dx_image = (image[..., :, 1:] - image[..., :, :-1]).abs().mean(1)
    dy_image = (image[..., 1:, :] - image[..., :-1, :]).abs().mean(1)
    return (dx_flow * torch.exp(-edge_weight * dx_image)).mean() + (dy_flow * torch.exp(-edge_weight * dy_image)).mean()


def cycle_loss(forward: torch.Tensor, backward: torch.Tensor) -> torch.Tensor:
    """Mean Charbonnier length of ``forward(p) + backward(p + forward(p))``: zero when the two flows undo each
    other."""
    return charbonnier(forward + warp(backward, forward)).mean()


def occluded(forward: torch.Tensor, backward: torch.Tensor, scale: float = 0.01, slack: float = 0.5) -> torch.Tensor:
    """``(B, H, W)`` True where ``|forward + backward(p + forward)|^2 > scale (|forward|^2 + |backward(p +
    forward)|^2) + slack`` (no gradient)."""
    with torch.no_grad():
        back = warp(backward, forward)
        mismatch = (forward + back).square().sum(1)
        return mismatch > scale * (forward.square().sum(1) + back.square().sum(1)) + slack


def endpoint_error(flow: torch.Tensor, truth: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
    """Mean ``|flow - truth|`` (Euclidean, per pixel) over the pixels where ``valid (B, H, W)`` is True (all when
    None)."""
    error = (flow.float() - truth.float()).norm(dim=1)
    if valid is None:
        return error.mean()
    return (error * valid).sum() / valid.sum().clamp_min(1)
