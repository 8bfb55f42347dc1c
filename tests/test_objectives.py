import pytest
import torch

from openjepa.objectives import (
    covariance_loss,
    masked_mean,
    random_slices,
    sigreg,
    token_distance,
    variance_loss,
    vicreg_loss,
)
from openjepa.objectives.diagnostics import rankme, token_std


def test_distances():
    p, t = torch.tensor([[1.0, 2.0]]), torch.tensor([[0.0, 0.0]])
    assert token_distance(p, t, "l2").item() == pytest.approx(2.5)
    assert token_distance(p, t, "l1").item() == pytest.approx(1.5)
    assert token_distance(p, t, "smooth_l1").item() == pytest.approx((0.5 + 1.5) / 2)
    assert token_distance(p, 2 * p, "cosine").item() == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError, match="differ in shape"):
        token_distance(p, torch.zeros(1, 3), "l2")
    with pytest.raises(ValueError, match="unknown distance"):
        token_distance(p, t, "l3")


def test_masked_mean_ignores_pads():
    values = torch.tensor([[1.0, 3.0, 100.0]])
    assert masked_mean(values, torch.tensor([[True, True, False]])).item() == pytest.approx(2.0)


def test_slices_are_unit_norm_and_a_function_of_the_seed():
    a, b, c = random_slices(16, 32, seed=7), random_slices(16, 32, seed=7), random_slices(16, 32, seed=8)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert torch.allclose(a.norm(dim=0), torch.ones(32), atol=1e-5)


def test_sigreg_is_small_for_gaussians_and_large_for_collapse():
    torch.manual_seed(0)
    gaussian = torch.randn(2048, 64)
    low = sigreg(gaussian, seed=0)
    assert low < 3.0  # N * statistic: order 1 for an exact Gaussian
    assert sigreg(gaussian * 0.1, seed=0) > 20 * low  # scale collapse
    assert sigreg(gaussian * 5.0, seed=0) > 20 * low  # too spread
    rank_one = torch.randn(2048, 1) * torch.randn(1, 64) / 8
    assert sigreg(rank_one, seed=0) > 20 * low  # dimensional collapse
    shifted = gaussian + 2.0
    assert sigreg(shifted, seed=0) > 20 * low


def test_sigreg_gradient_pulls_towards_isotropy():
    torch.manual_seed(0)
    z = (torch.randn(512, 16) * 0.2).requires_grad_()
    opt = torch.optim.SGD([z], lr=2.0)
    start = sigreg(z, seed=0).item()
    for step in range(100):
        opt.zero_grad()
        loss = sigreg(z, seed=step)
        loss.backward()
        opt.step()
    assert sigreg(z.detach(), seed=999).item() < start / 10
    assert 0.7 < z.detach().std().item() < 1.3


def test_sigreg_rejects_bad_shapes():
    with pytest.raises(ValueError, match=r"\(N, D\)"):
        sigreg(torch.randn(2, 3, 4), seed=0)


def test_vicreg_terms():
    torch.manual_seed(0)
    z = torch.randn(1000, 8)
    assert variance_loss(z) < 0.05 and covariance_loss(z) < 0.05
    collapsed = torch.zeros(1000, 8)
    assert variance_loss(collapsed) > 0.9
    correlated = torch.randn(1000, 1).expand(1000, 8)
    assert covariance_loss(correlated) > 5
    assert vicreg_loss(z, z) < vicreg_loss(z, torch.randn(1000, 8))


def test_collapse_diagnostics():
    torch.manual_seed(0)
    tokens = torch.randn(64, 10, 32)
    assert token_std(tokens) > 0.9
    assert token_std(tokens[:1].expand(64, -1, -1)) < 1e-6
    assert rankme(torch.randn(256, 32)) > 25
    assert rankme(torch.randn(256, 1) @ torch.randn(1, 32) + 5.0) < 1.5
