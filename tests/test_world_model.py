"""LeWorldModel parts: predictor causality, rollout, loss, planners on a known quadratic cost."""

import pytest
import torch

from openjepa.control.planners import CEM, MPPI, GradientPlanner, make_planner
from openjepa.core.spec import InputSpec
from openjepa.methods.lewm import LeWorldModel, LeWorldModelConfig
from openjepa.modalities.trajectory import TrajectoryModality
from openjepa.nn.action_predictor import ActionPredictor, ActionPredictorConfig
from openjepa.nn.normalize import Normalize
from openjepa.nn.projector import ProjectorConfig
from openjepa.nn.vit import ViTConfig


def tiny_model(history=2, action_dim=4):
    torch.manual_seed(0)
    cfg = LeWorldModelConfig(predictor=ActionPredictorConfig(width=32, depth=2, heads=2, history=history),
                             projector=ProjectorConfig(hidden=64, out=16, layers=2))
    spec = InputSpec("trajectory", 3, (16, 16), frames=4, action_dim=action_dim, state_dim=2)
    encoder = TrajectoryModality().build_encoder(ViTConfig(patch_size=4, width=32, depth=2, heads=2), spec)
    return LeWorldModel(cfg, encoder, Normalize([0.5] * 3, [0.25] * 3), spec)


def randomize_gates(model):
    """AdaLN-zero starts every block as the identity; give the gates weights so actions matter."""
    torch.nn.init.normal_(model.predictor.modulation[1].weight, std=0.1)


def test_future_action_never_changes_an_earlier_prediction():
    model = tiny_model(history=2).eval()
    randomize_gates(model)
    z = torch.randn(3, 2, 16)
    actions = torch.randn(3, 1 + 5, 4)
    base = model.rollout(z, actions)
    assert base.shape == (3, 5, 16)
    for k in range(5):
        changed = actions.clone()
        changed[:, 1 + k] += 1.0  # the k-th planned action: it leads to predicted step k
        out = model.rollout(z, changed)
        torch.testing.assert_close(out[:, :k], base[:, :k], rtol=0, atol=0)
        assert (out[:, k:] - base[:, k:]).abs().amin(-1).min() > 0


def test_teacher_forcing_is_causal_and_matches_rollout_first_step():
    model = tiny_model(history=2).eval()
    randomize_gates(model)
    z, actions = torch.randn(2, 6, 16), torch.randn(2, 6, 4)
    pred = model.predictor.next_latents(z, actions)
    assert pred.shape == (2, 5, 16)
    changed = z.clone()
    changed[:, 4] += 1.0
    torch.testing.assert_close(model.predictor.next_latents(changed, actions)[:, :3], pred[:, :3], rtol=0, atol=0)
    first = model.rollout(z[:, :2], actions[:, :2])
    torch.testing.assert_close(first[:, 0], pred[:, 0], rtol=1e-5, atol=1e-6)


def test_rollout_accepts_a_single_latent_and_checks_actions():
    model = tiny_model(history=1).eval()
    assert model.rollout(torch.randn(4, 16), torch.randn(4, 3, 4)).shape == (4, 3, 16)
    with pytest.raises(ValueError, match="actions must end in 4"):
        model.rollout(torch.randn(4, 16), torch.randn(4, 3, 5))
    with pytest.raises(ValueError, match="past actions"):
        tiny_model(history=3).rollout(torch.randn(4, 3, 16), torch.randn(4, 2, 4))


def test_training_step_runs_and_all_losses_reach_the_encoder():
    model = tiny_model(history=1)
    batch = {"inputs": torch.rand(8, 3, 4, 16, 16), "actions": torch.randn(8, 4, 4), "step": 0}
    out = model(batch)
    assert {"pred_loss", "rollout_loss", "sigreg", "latent_std"} <= set(out.logs)
    out.loss.backward()
    assert model.encoder.patch_embed.proj.weight.grad.abs().sum() > 0
    assert model.predictor.action_encoder.net[0].weight.grad is not None


def test_window_too_short_is_a_clear_error():
    model = tiny_model(history=2)
    with pytest.raises(ValueError, match="data.frames > 2"):
        model({"inputs": torch.rand(2, 3, 2, 16, 16), "actions": torch.randn(2, 2, 4), "step": 0})


def test_predictor_rejects_windows_longer_than_history():
    pred = ActionPredictor(ActionPredictorConfig(width=16, depth=1, heads=2, history=2), 8, 2)
    with pytest.raises(ValueError, match="history=2"):
        pred(torch.randn(1, 3, 8), torch.randn(1, 3, 2))


def quadratic(target):
    """Cost of action sequences (B, S, H, A): squared distance to a per-problem target (B, H, A)."""
    return lambda a: (a - target[:, None]).square().sum((-1, -2))


@pytest.mark.parametrize("planner", [CEM(samples=200, elites=20, iterations=15),
                                     MPPI(samples=200, iterations=15, noise_std=0.3, temperature=0.3),
                                     GradientPlanner(samples=4, iterations=60, lr=0.1)])
def test_planners_converge_on_a_known_quadratic(planner):
    gen = torch.Generator().manual_seed(0)
    target = torch.rand(3, 5, 2, generator=gen) * 1.6 - 0.8
    result = planner.plan(quadratic(target), 3, 5, 2, generator=gen)
    assert result.actions.shape == (3, 5, 2)
    assert (result.actions - target).abs().max() < 0.1
    assert result.actions.abs().max() <= 1.0
    torch.testing.assert_close(result.cost, quadratic(target)(result.actions[:, None])[:, 0])


def test_planners_keep_bounds_and_warm_start():
    target = torch.full((1, 4, 2), 3.0)  # outside the box: the best plan is the bound
    result = CEM(samples=64, elites=8, iterations=10).plan(quadratic(target), 1, 4, 2,
                                                           generator=torch.Generator().manual_seed(0))
    assert result.actions.max() <= 1.0 and result.actions.min() > 0.9
    warm = torch.full((1, 4, 2), 0.5)
    one = CEM(samples=8, elites=2, iterations=1).plan(quadratic(warm), 1, 4, 2, init=warm)
    torch.testing.assert_close(one.actions, warm)
    with pytest.raises(ValueError, match="init must be"):
        CEM().plan(quadratic(warm), 1, 4, 2, init=torch.zeros(1, 3, 2))
    with pytest.raises(ValueError, match="unknown planner 'bogus'"):
        make_planner("bogus")


def test_one_token_attention_shortcut_matches_full_attention():
    torch.manual_seed(0)
    pred = ActionPredictor(ActionPredictorConfig(width=32, depth=2, heads=4, history=1), 8, 2)
    torch.nn.init.normal_(pred.modulation[1].weight, std=0.1)
    x = torch.randn(5, 1, 32)
    block = pred.blocks[0]
    torch.testing.assert_close(block._attend(x, None), block.attn(x, None), rtol=1e-5, atol=1e-6)
