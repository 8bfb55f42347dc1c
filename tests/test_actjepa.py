"""ACT-JEPA: goals in trajectory stores, the one episode loop with policies of every kind, chunk execution with
temporal ensembling, the method's losses, and collect -> train -> rollout -> eval through the CLI."""

import json

import numpy as np
import pytest
import torch

from openjepa.cli import main
from openjepa.control.chunk_policy import ChunkExecution, ChunkPolicy
from openjepa.control.collect import collect
from openjepa.control.envs import make_env, make_policy, run_episode
from openjepa.core.errors import ConfigError
from openjepa.data.trajectories.store import TrajectoryStore, TrajectoryWriter
from openjepa.runs.build import load_trained_method

SMALL = ["train.batch_size=8", "train.precision=fp32", "data.frames=5", "method.chunk=4", "encoder.width=32",
         "encoder.depth=1", "encoder.heads=2", "method.decoder.width=32", "method.decoder.depth=1",
         "method.decoder.heads=2", "train.checkpoint_every=2", "eval.readout_frames=40"]


def cli(*args, code: int = 0) -> None:
    with pytest.raises(SystemExit) as done:
        main([str(a) for a in args])
    assert done.value.code == code


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A TwoRoom store of expert demonstrations, an ACT-JEPA run and a plain action-chunking run on it."""
    root = tmp_path_factory.mktemp("act")
    cli("collect", "tworoom", "--episodes", "6", "--max-steps", "30", "--policy", "expert,noisy_expert", "--out",
        root / "store", "--quiet")
    for name, extra in (("jepa", []), ("plain", ["method.latent_weight=0"])):
        cli("train", "actjepa_tiny", "--data", root / "store", "--out", root / name, "--steps", "3", "--quiet",
            *SMALL, *extra)
    return root


def test_collect_records_the_goal_of_every_row(tmp_path):
    store = collect("tworoom", 3, "expert", tmp_path / "s", max_steps=60, progress=False)
    assert store.goal_dim == 2 and store.goal.shape == (store.num_steps, 2)
    episode = store.episode(0)
    # the expert reaches goals and is given new ones: the goal changes inside the episode, and each reached goal
    # lies within the success radius of a state of the episode
    changes = np.flatnonzero(np.any(np.diff(episode["goal"], axis=0) != 0, axis=1))
    assert len(changes) >= 1
    for t in changes:
        assert np.linalg.norm(episode["state"][t + 1] - episode["goal"][t]) < 0.08


def test_stores_without_goals_still_read_and_goals_are_checked(tmp_path):
    frames, actions, state = np.zeros((3, 4, 4, 3), np.uint8), np.zeros((2, 2)), np.zeros((3, 1))
    with TrajectoryWriter(tmp_path / "old", image_size=4, channels=3, action_dim=2, state_dim=1) as writer:
        writer.add_episode(frames, actions, state)
    old = TrajectoryStore(tmp_path / "old")
    assert old.goal is None and old.goal_dim == 0 and "goal" not in old.episode(0)
    assert "goal_dim" not in json.loads((tmp_path / "old" / "meta.json").read_text())
    writer = TrajectoryWriter(tmp_path / "new", image_size=4, channels=3, action_dim=2, state_dim=1, goal_dim=2)
    with pytest.raises(ValueError, match=r"goal of shape \(3, 2\)"):
        writer.add_episode(frames, actions, state)
    writer.add_episode(frames, actions, state, np.ones((3, 2)))
    assert writer.close().goal.tolist() == [[1.0, 1.0]] * 3


def test_one_loop_runs_scripted_policies_with_records_and_retargets():
    env = make_env("tworoom", max_steps=120)
    run = run_episode(env, make_policy("expert"), 3, {"different_rooms": True}, record=True)
    assert run.success and run.frames.shape == (run.steps + 1, 32, 32, 3) and run.actions.shape == (run.steps, 2)
    np.testing.assert_array_equal(run.goals[0], run.goals[-1])  # one goal without retargeting
    long = run_episode(env, make_policy("expert"), 3, retarget=True, max_steps=120, record=True)
    assert long.steps == 120 and long.goals_reached >= 2 and long.success


class Constant:
    """A model that always predicts the chunk ``[step index, ...]`` offset by how often it was asked."""

    chunk, execution = 3, ChunkExecution(execute=2, ensemble=None)

    def __init__(self):
        self.calls = 0

    def predict_chunk(self, frames, state, goal):
        self.calls += 1
        return torch.arange(3.0)[None, :, None].expand(1, 3, 2) + 10 * self.calls


def test_chunk_execution_open_loop_and_temporally_ensembled():
    obs = {"pixels": np.zeros((8, 8, 3), np.uint8), "state": np.zeros(2, np.float32), "goal": np.zeros(2)}
    model = Constant()
    policy = ChunkPolicy(model)
    policy.reset(None, np.random.default_rng(0))
    assert [policy.act(None, obs)[0] for _ in range(4)] == [10, 11, 20, 21]  # two actions per query
    model = Constant()
    policy = ChunkPolicy(model, ChunkExecution(ensemble=0.5))
    policy.reset(None, np.random.default_rng(0))
    first, second = policy.act(None, obs)[0], policy.act(None, obs)[0]
    assert first == 10  # one prediction for step 0
    w = np.exp(-0.5 * np.arange(2))  # step 1: the first chunk's [1] = 11 (oldest, weight 1), the second's [0] = 20
    assert second == pytest.approx((w[0] * 11 + w[1] * 20) / w.sum())
    with pytest.raises(ConfigError, match="execute must lie in"):
        ChunkPolicy(model, ChunkExecution(execute=4, ensemble=None))


def test_latent_term_trains_the_decoder_and_off_it_skips_the_target(runs):
    _, jepa = load_trained_method(runs / "jepa")
    _, plain = load_trained_method(runs / "plain")
    batch = {"inputs": torch.rand(4, 3, 5, 32, 32), "actions": torch.rand(4, 5, 2) * 2 - 1,
             "state": torch.rand(4, 5, 2), "goal": torch.rand(4, 1, 2).expand(4, 5, 2), "step": 0}
    jepa.train()
    out = jepa(batch)
    assert set(out.logs) >= {"action_l1", "latent_loss"}
    out.loss.backward()
    assert jepa.latent_head.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in jepa.target.parameters())  # the EMA target takes no gradient
    plain.train()
    assert "latent_loss" not in plain(batch).logs
    # a goal that changes at row 2 (a retargeted demonstration): the actions after it are not its demonstration
    changed = dict(batch, goal=batch["goal"].clone())
    changed["goal"][:, 2:] += 1
    plain.eval()
    with torch.no_grad():
        predicted = plain.predict_chunk(batch["inputs"][:, :, 0], batch["state"][:, 0], batch["goal"][:, 0])
        expected = (predicted[:, :2] - batch["actions"][:, :2]).abs().mean()
        assert plain(changed).logs["action_l1"] == pytest.approx(expected.item(), rel=1e-5)
    with torch.no_grad():
        plain_target = next(plain.target.parameters()).clone()
    plain.after_step(1, 10)
    assert torch.equal(next(plain.target.parameters()), plain_target)
    assert plain.eval_encoder() is plain.encoder  # the frozen EMA copy is not what gets evaluated
    with pytest.raises(ValueError, match="reads goals of size 2"):
        jepa.eval().predict_chunk(torch.rand(1, 3, 32, 32), torch.rand(1, 2), None)


def test_rollout_and_eval_through_the_cli(runs):
    cli("rollout", runs / "jepa", "--episodes", "2", "--max-steps", "5", "--beside", runs / "plain", "--quiet")
    report = json.loads((runs / "jepa" / "rollout.json").read_text())
    assert report["episodes"] == 2 and report["env"] == "tworoom" and 0 <= report["success_rate"] <= 1
    assert {"random_success_rate", "expert_success_rate"} <= set(report)
    assert set(report["beside"]) == {str(runs / "plain")}
    assert (runs / "jepa" / "plots" / "rollouts.png").stat().st_size > 0
    cli("rollout", runs / "plain", "--episodes", "1", "--max-steps", "3", "--no-ensemble", "--execute", "2",
        "--quiet")
    assert json.loads((runs / "plain" / "rollout.json").read_text())["execution"] == {"execute": 2, "ensemble": None}
    cli("eval", runs / "jepa")
    r2 = json.loads((runs / "jepa" / "eval.json").read_text())["future_state_r2"]
    assert set(r2) == {"predicted", "current"} and all(-100 < v <= 1 for v in r2.values())


def test_rollout_refuses_what_it_cannot_roll_out(runs, capsys):
    cli("rollout", runs / "jepa", "--env", "reacher_nope", "--episodes", "1", "--quiet", "--out", runs / "x.json",
        code=2)
    assert "reacher_nope" in capsys.readouterr().err and not (runs / "x.json").exists()
    cli("rollout", runs / "store", "--quiet", code=2)
    assert "store" in capsys.readouterr().err
