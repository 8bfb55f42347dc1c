import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from openjepa.control.envs import make_env, make_policy, success_rate
from openjepa.control.envs.tworoom import AGENT_COLOUR

APART = {"different_rooms": True}


def rollout(env, policy, seed: int, steps: int, options: dict | None = None) -> np.ndarray:
    """States ``(steps + 1, 2)`` of one episode run for ``steps`` steps (past termination)."""
    env.reset(seed=seed, options=options)
    policy.reset(env, np.random.default_rng(seed))
    states = [env.state]
    for _ in range(steps):
        env.step(policy.act(env, {}))
        states.append(env.state)
    return np.stack(states)


@pytest.mark.parametrize("name", ["reach", "tworoom"])
@pytest.mark.parametrize("size", [16, 64])
def test_spaces_and_dtypes(name, size):
    env = make_env(name, image_size=size)
    obs, info = env.reset(seed=0)
    assert env.action_space == gymnasium.spaces.Box(-1, 1, (2,), np.float32)
    assert obs in env.observation_space
    assert obs["pixels"].shape == (size, size, 3) and obs["pixels"].dtype == np.uint8
    assert obs["state"].shape == (2,) and obs["state"].dtype == np.float32
    assert info["goal"].dtype == np.float32 and info["goal_pixels"].shape == (size, size, 3)
    assert isinstance(info["success"], bool) and info["distance"] > env.success_radius
    obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
    assert obs in env.observation_space and reward == -info["distance"]
    assert not terminated and not truncated


@pytest.mark.parametrize("gym_id", ["openjepa/TwoRoom-v0", "openjepa/Reach-v0"])
def test_check_env_and_gym_registration(gym_id):
    env = gymnasium.make(gym_id, render_mode="rgb_array")
    check_env(env.unwrapped)
    env.reset(seed=0)
    assert env.render().shape == (32, 32, 3)


def test_make_env_unknown_name_suggests():
    with pytest.raises(ValueError, match="did you mean 'tworoom'"):
        make_env("two_room")
    with pytest.raises(ValueError, match="noisy_expert"):
        make_policy("oracle")


def test_determinism_under_seed():
    actions = np.random.default_rng(1).uniform(-1, 1, (30, 2)).astype(np.float32)

    def run(seed: int) -> tuple[np.ndarray, np.ndarray]:
        env = make_env("tworoom")
        _, info = env.reset(seed=seed)
        return info["goal"], np.stack([env.step(a)[0]["state"] for a in actions])

    (goal, states), (goal_again, states_again) = run(7), run(7)
    np.testing.assert_array_equal(goal, goal_again)
    np.testing.assert_array_equal(states, states_again)
    assert not np.array_equal(run(8)[0], goal)


def test_wall_blocks_and_slides():
    env = make_env("tworoom", max_step=0.3)  # big steps: the sweep must still not tunnel
    env.reset(options={"start": (0.2, 0.2), "goal": (0.8, 0.8)})
    for _ in range(10):
        env.step([1.0, 0.0])
    assert env.state[0] == pytest.approx(0.5 - env.clearance) and env.state[1] == pytest.approx(0.2)
    env.step([1.0, -0.3])  # pressed into the wall, it slides up along it
    assert env.state[0] == pytest.approx(0.5 - env.clearance) and env.state[1] == pytest.approx(0.11)
    env.reset(options={"start": (0.8, 0.45 - env.radius), "goal": (0.2, 0.8)})  # just above the door corridor
    for _ in range(10):
        env.step([-1.0, 0.0])
    assert env.room(env.state) == 1


def test_wall_never_crossed_outside_door():
    env = make_env("tworoom", image_size=16, max_steps=10_000)
    top, bottom = env.door_center - env.door_size / 2 + env.radius, env.door_center + env.door_size / 2 - env.radius
    rng = np.random.default_rng(0)
    crossings = 0
    for seed in range(40):
        env.reset(seed=seed)
        prev = env.state
        for _ in range(60):
            env.step(rng.uniform(-1.5, 1.5, 2))
            state = env.state
            assert env.is_free(state)
            if env.room(prev) != env.room(state):
                crossings += 1
                assert top - 1e-6 <= min(prev[1], state[1]) and max(prev[1], state[1]) <= bottom + 1e-6
            prev = state
    assert crossings > 0


def test_through_the_door():
    env = make_env("tworoom")
    env.reset(options={"start": (0.2, 0.5), "goal": (0.8, 0.5)})
    for _ in range(20):
        env.step([1.0, 0.0])
    assert env.room(env.state) == 1


def test_reset_options():
    env = make_env("tworoom")
    for seed in range(20):
        _, info = env.reset(seed=seed, options=APART)
        assert env.room(env.state) != env.room(info["goal"])
        assert env.is_free(env.state) and env.is_free(info["goal"])
    reach = make_env("reach")
    for seed in range(20):
        _, info = reach.reset(seed=seed, options=APART)
        assert info["distance"] >= 0.4
    obs, info = env.reset(options={"start": (0.1, 0.2), "goal": (0.9, 0.3)})
    np.testing.assert_allclose(obs["state"], [0.1, 0.2])
    np.testing.assert_allclose(info["goal"], [0.9, 0.3])
    with pytest.raises(ValueError, match="free"):
        env.reset(options={"start": (0.5, 0.2)})  # inside the wall
    with pytest.raises(ValueError, match="known"):
        env.reset(options={"goal_room": 1})


def test_render_state_matches_observation_and_shows_agent():
    env = make_env("tworoom", image_size=32, render_mode="rgb_array")
    obs, info = env.reset(seed=3)
    np.testing.assert_array_equal(env.render_state(obs["state"]), obs["pixels"])
    np.testing.assert_array_equal(env.render(), obs["pixels"])
    np.testing.assert_array_equal(env.render_state(info["goal"]), info["goal_pixels"])
    row, col = (obs["state"][::-1] * 32).astype(int)
    assert np.abs(obs["pixels"][row, col].astype(int) - AGENT_COLOUR).max() < 60
    assert not np.array_equal(obs["pixels"][:, 4], obs["pixels"][:, -5])  # the rooms' floors differ


@pytest.mark.parametrize("action", [np.zeros(3), np.zeros((1, 2)), np.array([np.nan, 0.0]), [np.inf, 1.0]])
def test_bad_action_raises(action):
    env = make_env("tworoom")
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        env.step(action)


def test_out_of_range_actions_are_clipped():
    envs = [make_env("tworoom"), make_env("tworoom")]
    for env in envs:
        env.reset(seed=0)
    envs[0].step([5.0, -3.0])
    envs[1].step([1.0, -1.0])
    np.testing.assert_array_equal(envs[0].state, envs[1].state)


def test_truncation():
    env = make_env("reach", max_steps=3)
    env.reset(seed=0, options={"start": (0.1, 0.1), "goal": (0.9, 0.9)})
    flags = [env.step([0.0, 0.0])[3] for _ in range(3)]
    assert flags == [False, False, True]


def test_expert_policies_succeed():
    env = make_env("tworoom", image_size=16)
    assert success_rate(env, make_policy("expert"), episodes=40, seed=0) >= 0.95
    assert success_rate(env, make_policy("noisy_expert", noise=0.3), episodes=20, seed=1) >= 0.8


def test_straight_line_between_zero_and_expert():
    env = make_env("tworoom", image_size=16)
    expert = success_rate(env, make_policy("expert"), episodes=40, seed=2)
    straight = success_rate(env, make_policy("straight_line"), episodes=40, seed=2)
    assert 0.0 < straight < expert


def test_random_policy_visits_both_rooms():
    env = make_env("tworoom", image_size=16)
    episodes = [rollout(env, make_policy("random"), seed, 200) for seed in range(20)]
    rooms = [(states[:, 0] >= 0.5).astype(int) for states in episodes]
    share = np.concatenate(rooms).mean()
    assert 0.2 < share < 0.8
    assert sum(len(set(r)) == 2 for r in rooms) >= 3  # some episodes cross through the door


def test_policy_actions_are_valid():
    env = make_env("reach")
    for name in ("random", "noisy_expert", "expert", "straight_line"):
        policy = make_policy(name)
        env.reset(seed=0)
        policy.reset(env, np.random.default_rng(0))
        action = policy.act(env, {})
        assert action.shape == (2,) and action.dtype == np.float32 and np.abs(action).max() <= 1
    with pytest.raises(ValueError, match="noisy_expert"):
        make_policy("expert", noise=0.1)
