"""The optional environments (``pip install openjepa[pusht]`` / ``[reacher]``): the TwoRoom contract, success tests,
collection and collect -> train -> plan through the CLI. Skipped, with the reason, where an extra is missing;
the error for a missing extra is tested everywhere."""

import importlib.util
import json
import sys

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from test_world_run import SMALL, TINY_CEM, cli

from openjepa.control.collect import collect
from openjepa.control.envs import make_env, make_policy, run_episode
from openjepa.core.errors import MissingExtraError

REQUIRES = {"pusht": "gym_pusht", "reacher": "dm_control"}
STATE_DIM = {"pusht": 5, "reacher": 8}


def extra(name: str):
    """``name`` as a parameter skipped (with the install line as reason) when its extra is missing."""
    missing = importlib.util.find_spec(REQUIRES[name]) is None
    return pytest.param(name, marks=pytest.mark.skipif(missing, reason=f"needs pip install 'openjepa[{name}]'"))


BOTH = [extra("pusht"), extra("reacher")]


@pytest.fixture(scope="module")
def envs():
    """One 32 px env per name, built on first use (construction starts a renderer)."""
    made = {}

    def get(name):
        if name not in made:
            made[name] = make_env(name, image_size=32, max_steps=50)
        return made[name]

    return get


@pytest.mark.parametrize("name", sorted(REQUIRES))
def test_missing_extra_names_the_pip_extra(name, monkeypatch, capsys, tmp_path):
    root = REQUIRES[name]
    for module in [root, *(m for m in list(sys.modules) if m.startswith(root + "."))]:
        monkeypatch.setitem(sys.modules, module, None)  # as if not installed
    monkeypatch.delitem(sys.modules, f"openjepa.control.envs.{name}", raising=False)
    with pytest.raises(MissingExtraError, match=rf"pip install 'openjepa\[{name}\]'"):
        make_env(name)
    cli("collect", name, "--episodes", "1", "--out", tmp_path / "store", "--quiet", code=2)
    assert f"openjepa[{name}]" in capsys.readouterr().err


@pytest.mark.parametrize("name", BOTH)
def test_contract_and_determinism(name, envs):
    env = envs(name)
    assert env.action_space == gymnasium.spaces.Box(-1, 1, (2,), np.float32)
    actions = np.random.default_rng(0).uniform(-1, 1, (8, 2)).astype(np.float32)

    def run(seed):
        obs, info = env.reset(seed=seed)
        assert obs in env.observation_space and obs["state"].shape == (STATE_DIM[name],)
        assert info["goal"].shape == obs["state"].shape and info["goal_pixels"].shape == (32, 32, 3)
        assert info["goal_pixels"].dtype == np.uint8 and not info["success"]
        steps = [env.step(a) for a in actions]
        assert all(isinstance(s[4]["success"], bool) and s[0] in env.observation_space for s in steps)
        return np.stack([s[0]["state"] for s in steps]), np.stack([s[0]["pixels"] for s in steps]), info["goal"]

    first, again, other = run(7), run(7), run(8)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0], other[0])


@pytest.mark.filterwarnings("ignore:.*infinity")  # Reacher's velocities are unbounded
@pytest.mark.parametrize("name", BOTH)
def test_gymnasium_env_checker(name):
    check_env(make_env(name, image_size=16, max_steps=5, render_mode="rgb_array"), skip_render_check=True)


@pytest.mark.parametrize("name", [extra("pusht")])
def test_pusht_success_at_goal_pose(name, envs):
    env = envs(name)
    _, info = env.reset(seed=0)
    obs, at_goal = env.reset(seed=1, options={"start": info["goal"]})
    assert at_goal["success"] and at_goal["coverage"] > 0.99 and at_goal["distance"] < 1e-6
    np.testing.assert_array_equal(obs["pixels"], at_goal["goal_pixels"])  # the goal frame is the goal state drawn
    shifted, off = env.reset(seed=1, options={"start": info["goal"] + np.float32([0, 0, 60, 0, 0])})
    assert not off["success"] and off["coverage"] < 0.9
    obs, _, terminated, _, _ = env.step([0.0, 0.5625])  # go to (256, 400), where the pusher already rests
    np.testing.assert_allclose(obs["state"], shifted["state"], atol=1e-3)
    assert not terminated
    with pytest.raises(ValueError, match="start"):
        env.reset(options={"start": [1.0, 2.0]})
    with pytest.raises(ValueError, match="known"):
        env.reset(options={"different_rooms": True})


@pytest.mark.parametrize("name", [extra("reacher")])
def test_reacher_goal_success_and_expert(name, envs):
    env = envs(name)
    for target in ([0.05, 0.0], [-0.1, 0.15], [0.0, -0.2]):
        angles = env.inverse_kinematics(np.array(target), near=np.zeros(2))
        np.testing.assert_allclose(env.fingertip(angles), target, atol=1e-9)
    _, info = env.reset(seed=0)
    obs, touching = env.reset(seed=0, options={"start": info["goal"], "goal": info["goal"][6:]})
    assert touching["success"] and touching["distance"] < 1e-6
    np.testing.assert_array_equal(obs["pixels"], info["goal_pixels"])  # the goal frame is the goal state drawn
    np.testing.assert_allclose(obs["state"], info["goal"], atol=1e-6)
    with pytest.raises(ValueError, match="reach"):
        env.reset(options={"goal": [0.5, 0.0]})
    expert = [run_episode(env, make_policy("expert", env=name), 100 + e) for e in range(5)]
    assert all(run.success for run in expert) and max(run.steps for run in expert) < 50


# a reset option for collection, and where the first state shows it
OPTION = {"pusht": ({"start": [100.0, 100.0, 300.0, 300.0, 1.0]}, slice(0, 5)),
          "reacher": ({"goal": [0.1, -0.1]}, slice(6, 8))}


@pytest.mark.parametrize("name", BOTH)
def test_collect_into_store(name, tmp_path):
    store = collect(name, 2, "random", tmp_path / "store", image_size=32, max_steps=10, progress=False)
    assert store.image_size == (32, 32) and store.channels == 3 and store.action_dim == 2
    assert store.state_dim == STATE_DIM[name] and store.episode_lengths.tolist() == [10, 10]
    assert store.env == name
    options, shown = OPTION[name]
    store = collect(name, 1, "random", tmp_path / "options", image_size=32, max_steps=3, progress=False,
                    reset_options=options)
    np.testing.assert_allclose(store.state[0, shown], next(iter(options.values())), atol=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("name", BOTH)
def test_collect_train_plan(name, tmp_path):
    store, run = tmp_path / "store", tmp_path / "run"
    policy = "noisy_expert,random" if name == "reacher" else "random"
    cli("collect", name, "--episodes", "4", "--max-steps", "24", "--policy", policy, "--image-size", "32",
        "--out", store, "--quiet")
    cli("train", f"lewm_{name}_tiny", "--data", store, "--out", run, "--quiet", "--steps", "3", *SMALL,
        "method.predictor.history=1")
    cli("plan", run, "--episodes", "2", "--planner-args", TINY_CEM, "--max-steps", "6", "--quiet")
    report = json.loads((run / "plan.json").read_text())
    assert report["episodes"] == 2 and report["mean_plan_seconds"] > 0 and report["plan"]["env"] == name
    baselines = {key[: -len("_success_rate")] for key in report if key.endswith("_success_rate")}
    assert baselines == ({"random", "expert"} if name == "reacher" else {"random"})
    assert (run / "plots" / "plan_episodes.png").stat().st_size > 0
