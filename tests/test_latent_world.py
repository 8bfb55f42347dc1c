"""A latent variable z in LeWorldModel: the loss is the free energy, the rollout replays the chosen z's, planning
takes the minimum over z per rolled step; and TwoRoom with random pushes, the stochastic env it is for."""

import gymnasium
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from gymnasium.utils.env_checker import check_env

from openjepa.control.collect import collect
from openjepa.control.envs import make_env
from openjepa.control.envs.tworoom import PUSHES
from openjepa.control.mpc import LatentGoalCost, PlanConfig, run_mpc_episode
from openjepa.core.errors import ConfigError
from openjepa.core.spec import InputSpec
from openjepa.methods.lewm import LeWorldModel, LeWorldModelConfig
from openjepa.modalities.trajectory import TrajectoryModality
from openjepa.nn.action_predictor import ActionPredictorConfig
from openjepa.nn.latent import LatentConfig
from openjepa.nn.normalize import Normalize
from openjepa.nn.projector import ProjectorConfig
from openjepa.nn.vit import ViTConfig
from openjepa.objectives.energy import free_energy
from openjepa.objectives.sigreg import SIGRegConfig
from openjepa.runs.config import build_config, recipe_dict


def tiny_model(latent: LatentConfig | None = None, history: int = 1, rollout_weight: float = 0.0) -> LeWorldModel:
    """A 16 px LeWorldModel (actions of 4 values), SIGReg off, its gates randomised so that actions and z matter."""
    torch.manual_seed(0)
    cfg = LeWorldModelConfig(predictor=ActionPredictorConfig(width=32, depth=2, heads=2, history=history),
                             projector=ProjectorConfig(hidden=64, out=16, layers=2), sigreg=SIGRegConfig(weight=0.0),
                             rollout_weight=rollout_weight, latent=latent or LatentConfig())
    spec = InputSpec("trajectory", 3, (16, 16), frames=4, action_dim=4, state_dim=2)
    encoder = TrajectoryModality().build_encoder(ViTConfig(patch_size=4, width=32, depth=2, heads=2), spec)
    model = LeWorldModel(cfg, encoder, Normalize([0.5] * 3, [0.25] * 3), spec)
    torch.nn.init.normal_(model.predictor.modulation[1].weight, std=0.3)
    return model


def batch(size: int = 6, frames: int = 4) -> dict:
    g = torch.Generator().manual_seed(1)
    return {"inputs": torch.rand(size, 3, frames, 16, 16, generator=g),
            "actions": torch.randn(size, frames, 4, generator=g), "step": 0}


def transitions(model: LeWorldModel, b: dict):
    """The teacher-forced rows of a batch: windows, their actions, the latents they predict."""
    z = model.embed(b["inputs"])
    windows, acts = model.predictor.windows(z[:, :-1], b["actions"][:, :-1])
    return z, windows, acts, z[:, model.history:].flatten(0, 1)


def code(model: LeWorldModel, k: int, rows: int) -> torch.Tensor:
    """Code ``k`` for ``rows`` rows: ``(rows, 1, dim)``."""
    return model.latent.codes[k].detach()[None, None].expand(rows, 1, -1)


def test_without_a_latent_the_loss_is_the_mse():
    model = tiny_model(history=2, rollout_weight=1.0)
    b = batch()
    out = model(b)
    assert not {"code_perplexity", "z_norm"} & set(out.logs)
    z = model.embed(b["inputs"])
    target = z[:, 2:]
    pred_loss = F.mse_loss(model.predictor.next_latents(z[:, :-1], b["actions"][:, :-1]), target)
    rollout_loss = F.mse_loss(model.rollout(z[:, :2], b["actions"][:, :-1]), target)
    torch.testing.assert_close(out.logs["pred_loss"], pred_loss, rtol=1e-6, atol=0)
    torch.testing.assert_close(out.logs["rollout_loss"], rollout_loss, rtol=0, atol=0)
    torch.testing.assert_close(out.loss, pred_loss + rollout_loss, rtol=1e-6, atol=0)


def test_discrete_loss_is_the_minimum_over_codes():
    model = tiny_model(LatentConfig(kind="discrete", codes=3, capacity=0))
    b = batch()
    out = model(b)
    _, windows, acts, target = transitions(model, b)
    problem = model.transition_problem(windows, acts, target)
    per_code = torch.stack([F.mse_loss(problem.predict(code(model, k, len(target)))[:, 0, 0], target,
                                       reduction="none").mean(-1) for k in range(3)], 1)  # (N, 3)
    torch.testing.assert_close(out.logs["pred_loss"], per_code.min(1).values.mean(), rtol=1e-5, atol=0)
    assert 1 <= out.logs["code_perplexity"] <= 3
    out.loss.backward()
    assert model.latent.codes.grad.abs().sum() > 0


def test_balancing_caps_a_code_share():
    model = tiny_model(LatentConfig(kind="discrete", codes=3, capacity=1.0))  # at most a fair share: 18 / 3 rows
    _, windows, acts, target = transitions(model, batch())
    problem = model.transition_problem(windows, acts, target)
    with torch.no_grad():  # not training: each row's best code
        assert torch.bincount(free_energy(model.latent, problem).index, minlength=3).max() > 6
    chosen = free_energy(model.latent, problem).index  # training with autograd on: balanced
    assert torch.bincount(chosen, minlength=3).tolist() == [6, 6, 6]


def test_continuous_z_is_detached_and_sparse():
    model = tiny_model(LatentConfig(kind="continuous", dim=8, steps=3, step_size=0.5, sparsity=0.5))
    b = batch()
    out = model(b)
    assert 0 < out.logs["z_active"] < 1 and out.logs["z_norm"] >= 0
    _, windows, acts, target = transitions(model, b)
    choice = free_energy(model.latent, model.transition_problem(windows, acts, target))
    assert not choice.z.requires_grad and (choice.z == 0).any() and choice.energy.requires_grad


def test_rollout_replays_per_step_latents():
    model = tiny_model(LatentConfig(kind="discrete", codes=3), history=2).eval()
    z, actions = torch.randn(2, 2, 16), torch.randn(2, 1 + 3, 4)
    codes = model.latent.codes.detach()
    latents = codes[torch.tensor([[0, 2, 1], [1, 1, 0]])]  # (B, H, dim)
    with torch.no_grad():
        rolled = model.rollout(z, actions, latents)
        seq = list(z.unbind(1))
        for k in range(3):
            window = torch.stack(seq[-2:], 1)
            seq.append(model.next_latent(window, actions[:, k : k + 2], latents[:, k]))
        torch.testing.assert_close(rolled, torch.stack(seq[2:], 1), rtol=0, atol=0)
        changed = latents.clone()
        changed[:, 1] = codes[0]
        other = model.rollout(z, actions, changed)  # a step's z changes that step and the later ones only
        torch.testing.assert_close(other[:, 0], rolled[:, 0], rtol=0, atol=0)
        assert (other[:, 1:] - rolled[:, 1:]).abs().amax() > 0
        mean = model.rollout(z, actions)[:, 0]  # without latents: the mean over the codes
        each = torch.stack([model.rollout(z, actions[:, :2], codes[k].expand(2, 1, -1))[:, 0] for k in range(3)])
        torch.testing.assert_close(mean, each.mean(0), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=r"latents must be \(B, H, dim\)"):
        model.rollout(z, actions, latents[:, :2])
    with pytest.raises(ValueError, match="kind none"):
        tiny_model().rollout(z[:, -1], actions, latents)


def test_rollout_loss_uses_the_z_chosen_per_step():
    model = tiny_model(LatentConfig(kind="discrete", codes=3), rollout_weight=1.0)
    b = batch()
    out = model(b)
    z, windows, acts, target = transitions(model, b)
    choice = free_energy(model.latent, model.transition_problem(windows, acts, target))
    rolled = model.rollout(z[:, :1], b["actions"][:, :-1], choice.z.view(len(z), 3, -1))
    torch.testing.assert_close(out.logs["rollout_loss"], F.mse_loss(rolled, z[:, 1:]), rtol=1e-6, atol=0)


def plan_cost(model, horizon: int, latent: str = "min", kind: str = "sum") -> tuple[LatentGoalCost, torch.Tensor]:
    cost = LatentGoalCost(model, kind, latent=latent)
    g = torch.Generator().manual_seed(2)
    cost.set(torch.randn(2, model.history, 16, generator=g), torch.zeros(2, model.history - 1, 4),
             torch.randn(2, 16, generator=g))
    return cost, torch.randn(2, 5, horizon, 4, generator=g)


@torch.no_grad()
def test_plan_cost_takes_the_minimum_over_z_per_step():
    model = tiny_model(LatentConfig(kind="discrete", codes=3)).eval()
    codes = model.latent.codes
    cost, actions = plan_cost(model, horizon=1)
    fixed = []
    for k in range(3):
        rolled = model.rollout(cost.history.repeat_interleave(5, 0), actions.flatten(0, 1), codes[k].expand(10, 1, -1))
        fixed.append((rolled[:, 0] - cost.goal.repeat_interleave(5, 0)).square().mean(-1).view(2, 5))
    fixed = torch.stack(fixed)  # (codes, B, S)
    got = cost(actions)
    assert (got <= fixed.amin(0) + 1e-6).all() and (got >= fixed.amin(0) - 1e-6).all()
    cost, actions = plan_cost(model, horizon=3)  # greedy: each step the code nearest the goal, from the chosen path
    flat, goal = actions.flatten(0, 1), cost.goal.repeat_interleave(5, 0)
    chosen = torch.zeros(10, 0, codes.shape[1])
    for step in range(3):
        tries = [model.rollout(cost.history.repeat_interleave(5, 0), flat[:, : step + 1],
                               torch.cat([chosen, codes[k].expand(10, 1, -1)], 1))[:, -1] for k in range(3)]
        best = torch.stack([(t - goal).square().mean(-1) for t in tries], 1).argmin(1)
        chosen = torch.cat([chosen, codes[best][:, None]], 1)
    torch.testing.assert_close(cost.rollout(flat, 5), model.rollout(cost.history.repeat_interleave(5, 0), flat, chosen),
                               rtol=1e-5, atol=1e-6)
    mean_cost, _ = plan_cost(model, horizon=3, latent="mean")
    torch.testing.assert_close(mean_cost.rollout(flat, 5), model.rollout(cost.history.repeat_interleave(5, 0), flat),
                               rtol=1e-5, atol=1e-6)


def test_plan_cost_of_a_continuous_z_and_without_one():
    model = tiny_model(LatentConfig(kind="continuous", dim=8, steps=5, step_size=0.01, sparsity=0.0)).eval()
    cost, actions = plan_cost(model, horizon=1)
    at_zero, _ = plan_cost(model, horizon=1, latent="mean")  # mean over a continuous z's candidates: z = 0
    with torch.no_grad():
        assert (cost(actions) <= at_zero(actions) + 1e-6).all()
    plain = tiny_model().eval()
    cost, actions = plan_cost(plain, horizon=3, kind="terminal")
    with torch.no_grad():
        rolled = plain.rollout(cost.history.repeat_interleave(5, 0), actions.flatten(0, 1))
        want = (rolled[:, -1] - cost.goal.repeat_interleave(5, 0)).square().mean(-1).view(2, 5)
        torch.testing.assert_close(cost(actions), want, rtol=0, atol=0)


def test_mpc_episode_with_a_latent_on_the_pushes_env():
    model = tiny_model(LatentConfig(kind="discrete", codes=3)).eval()
    config = PlanConfig(planner_args={"samples": 8, "elites": 2, "iterations": 2}, horizon=2, max_steps=4,
                        env="tworoom_pushes")
    episode = run_mpc_episode(model, make_env("tworoom_pushes", image_size=16), 0, config, frameskip=2)
    assert episode.steps == 4 and episode.predicted[0].shape == (2, 16)


def test_bad_latent_settings_are_one_clear_line():
    with pytest.raises(ConfigError, match=r"method.latent.codes, dim and rank must be >= 1"):
        build_config(recipe_dict("lewm_tworoom_pushes_tiny"), ["method.latent.codes=0"])
    with pytest.raises(ConfigError, match=r"plan.latent: expected one of \['min', 'mean'\]"):
        build_config(recipe_dict("lewm_tworoom_pushes_tiny"), ["method.plan.latent=max"])
    with pytest.raises(ConfigError, match="plan.latent must be min or mean"):
        PlanConfig(latent="max").validate()
    with pytest.raises(ValueError, match="latent must be min or mean"):
        LatentGoalCost(tiny_model(), "sum", latent="max")
    with pytest.raises(ValueError, match="push_prob must be in"):
        make_env("tworoom_pushes", push_prob=1.5)


def pushed_path(seed: int, steps: int = 40, **kwargs) -> tuple[np.ndarray, list[int]]:
    """States ``(steps + 1, 2)`` and pushes of one episode of random actions."""
    env = make_env("tworoom_pushes", image_size=16, **kwargs)
    env.reset(seed=seed)
    states, pushes = [env.state], []
    for action in np.random.default_rng(0).uniform(-1, 1, (steps, 2)):
        pushes.append(env.step(action)[-1]["push"])
        states.append(env.state)
    return np.stack(states), pushes


def test_pushes_are_repeatable_under_a_seed():
    (states, pushes), (again, pushes_again) = pushed_path(3, push_prob=0.5), pushed_path(3, push_prob=0.5)
    np.testing.assert_array_equal(states, again)
    assert pushes == pushes_again and any(p >= 0 for p in pushes)
    assert pushed_path(4, push_prob=0.5)[1] != pushes


def test_pushes_happen_at_the_stated_rate_and_size():
    env = make_env("tworoom_pushes", image_size=16, push_prob=0.25, push_size=0.1, max_steps=10_000)
    start = {"start": (0.25, 0.5), "goal": (0.8, 0.5)}  # 0.1 from here in any direction is free
    env.reset(seed=0, options=start)
    pushes = []
    for _ in range(2000):
        info = env.step(np.zeros(2))[-1]
        pushes.append(info["push"])
        moved = 0.1 * np.array(PUSHES[info["push"]]) if info["push"] >= 0 else np.zeros(2)
        np.testing.assert_allclose(env.state - np.array(start["start"]), moved, atol=1e-6)
        env.reset(options=start)
    pushes = np.array(pushes)
    assert abs((pushes >= 0).mean() - 0.25) < 0.04
    assert set(pushes[pushes >= 0].tolist()) == {0, 1, 2, 3}


def test_pushes_never_go_through_walls():
    env = make_env("tworoom_pushes", image_size=16, push_prob=1.0, push_size=0.3, max_steps=10_000)
    top, bottom = env.door_center - env.door_size / 2 + env.radius, env.door_center + env.door_size / 2 - env.radius
    for seed in range(10):  # no actions: each step is one push, a straight segment
        env.reset(seed=seed)
        prev = env.state
        for _ in range(40):
            env.step(np.zeros(2))
            assert env.is_free(env.state)
            if env.room(prev) != env.room(env.state):
                assert top - 1e-6 <= min(prev[1], env.state[1]) and max(prev[1], env.state[1]) <= bottom + 1e-6
            prev = env.state
    blocked = 0
    for _ in range(40):  # pushed right at the wall above the door: stopped on its face
        env.reset(options={"start": (0.35, 0.2), "goal": (0.8, 0.8)})
        if env.step(np.zeros(2))[-1]["push"] == 0:
            blocked += 1
            assert env.state[0] == pytest.approx(0.5 - env.clearance) and env.state[1] == pytest.approx(0.2)
    assert blocked


def test_collect_records_the_pushes_env(tmp_path):
    store = collect("tworoom_pushes", 2, "noisy_expert", tmp_path / "store", max_steps=10, progress=False)
    assert store.meta["env"] == "tworoom_pushes" and store.num_episodes == 2


def test_gym_registration_of_the_pushes_env():
    env = gymnasium.make("openjepa/TwoRoomPushes-v0", render_mode="rgb_array")
    check_env(env.unwrapped)
    env.reset(seed=0)
    assert env.render().shape == (32, 32, 3) and env.unwrapped.push_prob == 0.1
