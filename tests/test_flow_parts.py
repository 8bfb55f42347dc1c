"""MC-JEPA's flow parts: warping moves content by the flow, the cost volume peaks at the true shift, and the flow
losses vanish for the true flow."""

import torch

from openjepa.nn.flow_ops import correlation, upsample_flow, warp
from openjepa.objectives.flow_losses import cycle_loss, endpoint_error, photometric_loss, smoothness_loss


def _shifted_pair(dx=2, dy=1, size=16):
    torch.manual_seed(0)
    first = torch.zeros(1, 3, size, size)
    first[:, :, 4:10, 3:9] = torch.rand(1, 3, 6, 6)
    second = torch.roll(first, shifts=(dy, dx), dims=(2, 3))  # content moved by (dx, dy)
    flow = torch.zeros(1, 2, size, size)
    flow[:, 0], flow[:, 1] = dx, dy
    return first, second, flow


def test_warping_by_the_true_flow_brings_the_second_frame_onto_the_first():
    first, second, flow = _shifted_pair()
    assert torch.allclose(warp(second, flow), first, atol=1e-5)
    assert torch.allclose(warp(first, torch.zeros_like(flow)), first, atol=1e-6)
    assert photometric_loss(first, second, flow) < 2e-3 < photometric_loss(first, second, torch.zeros_like(flow))
    half = warp(second, flow / 2)  # a sub-pixel flow interpolates between neighbours
    assert torch.isfinite(half).all() and not torch.allclose(half, first)


def test_the_cost_volume_peaks_at_the_shift():
    torch.manual_seed(0)
    first = torch.randn(2, 64, 12, 12)
    second = torch.roll(first, shifts=(1, -2), dims=(2, 3))
    costs = correlation(first, second, radius=2)  # (B, 25, H, W); offset index (dy + 2) * 5 + (dx + 2)
    assert costs.shape == (2, 25, 12, 12)
    assert (costs[:, :, 3:-3, 3:-3].argmax(1) == (1 + 2) * 5 + (-2 + 2)).all()


def test_smooth_flows_and_flows_that_undo_each_other_cost_nothing():
    first, _, flow = _shifted_pair()
    assert smoothness_loss(flow, first) == 0
    bumpy = flow.clone()
    bumpy[:, :, 8, 8] += 3
    assert smoothness_loss(bumpy, first) > 0
    assert cycle_loss(flow, -flow) < 2e-3 < cycle_loss(flow, flow)


def test_upsampling_scales_vectors_and_endpoint_error_counts_valid_pixels():
    coarse = torch.ones(1, 2, 4, 4)
    fine = upsample_flow(coarse, (8, 16))
    assert fine.shape == (1, 2, 8, 16) and torch.allclose(fine[:, 0], torch.full((1, 8, 16), 4.0))
    assert torch.allclose(fine[:, 1], torch.full((1, 8, 16), 2.0))
    truth = torch.zeros(1, 2, 4, 4)
    flow = torch.zeros(1, 2, 4, 4)
    flow[:, 0, 0, 0] = 3.0
    flow[:, 1, 0, 0] = 4.0
    valid = torch.zeros(1, 4, 4, dtype=torch.bool)
    valid[:, 0, :2] = True
    assert endpoint_error(flow, truth) == 5 / 16 and endpoint_error(flow, truth, valid) == 2.5
