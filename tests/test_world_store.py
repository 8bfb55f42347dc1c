"""Trajectory store format, lazy reading, training windows, npz conversion and collection."""

import json
import pickle

import gymnasium as gym
import numpy as np
import pytest
import torch

from openjepa.control.collect import collect
from openjepa.core.errors import DataError
from openjepa.data.trajectories.store import TrajectoryStore, TrajectoryStoreError, TrajectoryWriter, convert_npz
from openjepa.data.trajectories.windows import TrajectoryWindows, frames_states, split_episodes

H, W, C, A, S = 6, 5, 3, 2, 2
LENGTHS = [7, 3, 12, 5]  # actions per episode


def make_episodes(lengths=LENGTHS, seed=0):
    rng = np.random.default_rng(seed)
    return [(rng.integers(0, 256, (n + 1, H, W, C), dtype=np.uint8), rng.normal(size=(n, A)).astype(np.float32),
             rng.normal(size=(n + 1, S)).astype(np.float32)) for n in lengths]


def write(path, episodes, **kwargs):
    with TrajectoryWriter(path, image_size=(H, W), channels=C, action_dim=A, state_dim=S, **kwargs) as writer:
        for episode in episodes:
            writer.add_episode(*episode)
    return TrajectoryStore(path)


@pytest.fixture
def episodes():
    return make_episodes()


@pytest.fixture
def store(tmp_path, episodes):
    return write(tmp_path / "store", episodes, env="fake", extra={"note": 1})


def test_round_trip_exact(store, episodes):
    assert (store.num_episodes, store.num_steps) == (4, sum(LENGTHS) + 4)
    assert (store.image_size, store.channels, store.action_dim, store.state_dim) == ((H, W), C, A, S)
    np.testing.assert_array_equal(store.episode_lengths, LENGTHS)
    np.testing.assert_array_equal(store.starts, np.r_[0, np.cumsum(np.array(LENGTHS) + 1)])
    for e, (frames, actions, state) in enumerate(episodes):
        got = store.episode(e)
        np.testing.assert_array_equal(got["frames"], frames)
        np.testing.assert_array_equal(got["actions"], actions)
        np.testing.assert_array_equal(got["state"], state)
    last = store.starts[1:] - 1
    assert not store.has_action[last].any() and store.has_action.sum() == sum(LENGTHS)
    assert not store.actions[last].any()
    meta = json.loads((store.path / "meta.json").read_text())
    assert meta["format"] == "openjepa-trajectories" and meta["version"] == 1 and meta["env"] == "fake"
    assert meta["fields"]["frames"] == {"dtype": "uint8", "shape": [store.num_steps, H, W, C]}
    assert meta["extra"] == {"note": 1}
    assert sorted(p.name for p in store.path.parent.iterdir()) == ["store"]  # no temp folder left behind


def test_lazy_and_picklable(store):
    for array in (store.frames, store.state, store.actions):
        assert isinstance(array, np.memmap)
    assert isinstance(store.episode(2)["frames"], np.memmap)
    again = pickle.loads(pickle.dumps(store))
    assert isinstance(again.frames, np.memmap) and len(pickle.dumps(store)) < 1000


def test_refuses_to_overwrite(store, episodes, tmp_path):
    with pytest.raises(DataError, match="overwrite=True"):
        write(store.path, episodes)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "keep.txt").write_text("x")
    with pytest.raises(DataError, match="not a trajectory store"):
        write(tmp_path / "other", episodes, overwrite=True)
    replaced = write(store.path, episodes[:2], overwrite=True)
    assert replaced.num_episodes == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other", "store"]


def test_failed_overwrite_keeps_old_store(store, episodes, tmp_path):
    with pytest.raises(RuntimeError, match="crash"):
        with TrajectoryWriter(store.path, image_size=(H, W), channels=C, action_dim=A, state_dim=S,
                              overwrite=True) as writer:
            writer.add_episode(*episodes[0])
            raise RuntimeError("crash")
    again = TrajectoryStore(store.path)
    assert again.num_episodes == 4
    np.testing.assert_array_equal(again.episode(3)["frames"], episodes[3][0])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["store"]


def test_truncated_file_names_it(store):
    file = store.path / "frames.npy"
    data = file.read_bytes()
    file.write_bytes(data[:-7])
    with pytest.raises(TrajectoryStoreError, match="frames.npy.*truncated") as err:
        TrajectoryStore(store.path)
    assert isinstance(err.value, DataError)
    file.write_bytes(data[:50])
    with pytest.raises(TrajectoryStoreError, match="frames.npy"):
        TrajectoryStore(store.path)


def test_meta_mismatch(store):
    meta_file = store.path / "meta.json"
    meta = json.loads(meta_file.read_text())

    def opened_with(**changes):
        meta_file.write_text(json.dumps({**meta, **changes}))
        return TrajectoryStore(store.path)

    with pytest.raises(TrajectoryStoreError, match=r"fields\['frames'\]"):
        opened_with(image_size=[H + 1, W])
    bad_fields = {**meta["fields"], "state": {"dtype": "float32", "shape": [store.num_steps, 3]}}
    with pytest.raises(TrajectoryStoreError, match=r"fields\['state'\]"):
        opened_with(fields=bad_fields)
    with pytest.raises(TrajectoryStoreError, match="version"):
        opened_with(version=2)
    with pytest.raises(TrajectoryStoreError, match="format"):
        opened_with(format="other")
    meta_file.write_text(json.dumps(meta))
    np.save(store.path / "state.npy", np.zeros((store.num_steps, S), np.float64))
    with pytest.raises(TrajectoryStoreError, match="state.npy holds float64"):
        TrajectoryStore(store.path)


def test_bad_offsets_and_missing_files(store):
    np.save(store.path / "episode_starts.npy", store.starts[[0, 2, 1, 3, 4]])
    with pytest.raises(TrajectoryStoreError, match="episode_starts.npy: expected strictly increasing"):
        TrajectoryStore(store.path)
    (store.path / "actions.npy").unlink()
    with pytest.raises(TrajectoryStoreError, match="actions.npy is missing"):
        TrajectoryStore(store.path)
    (store.path / "meta.json").unlink()
    with pytest.raises(TrajectoryStoreError, match="meta.json is missing"):
        TrajectoryStore(store.path)


def test_add_episode_validates(tmp_path, episodes):
    frames, actions, state = episodes[0]
    with TrajectoryWriter(tmp_path / "s", image_size=(H, W), channels=C, action_dim=A, state_dim=S) as writer:
        for bad, match in [((frames[:, :-1], actions, state), r"frames must have shape \(L\+1, 6, 5, 3\)"),
                           ((frames.astype(np.float32), actions, state), "frames must be uint8"),
                           ((frames, actions[:-1], state), r"actions .* shape \(7, 2\)"),
                           ((frames, actions, state[:, :1]), r"state .* shape \(8, 2\)"),
                           ((frames[:1], actions[:0], state[:1]), "L >= 1")]:
            with pytest.raises(ValueError, match=match):
                writer.add_episode(*bad)
        writer.add_episode(frames, actions.astype(np.float64), state)
    assert TrajectoryStore(tmp_path / "s").num_episodes == 1


@pytest.mark.parametrize("frameskip", [1, 3])
def test_windows_match_slicing(store, frameskip):
    steps = 2
    windows = TrajectoryWindows(store, steps, frameskip)
    expected = [(e, o) for e, n in enumerate(LENGTHS) for o in range(n - steps * frameskip + 1)]
    assert len(windows) == len(expected)
    for i, (e, o) in enumerate(expected):
        assert windows.locate(i) == (e, store.starts[e] + o)
        episode, item = store.episode(e), windows[i]
        rows = o + frameskip * np.arange(steps)
        assert item["frames"].dtype == torch.uint8 and item["frames"].shape == (C, steps, H, W)
        np.testing.assert_array_equal(item["frames"].numpy(), episode["frames"][rows].transpose(3, 0, 1, 2))
        np.testing.assert_array_equal(item["state"].numpy(), episode["state"][rows])
        chunks = np.stack([episode["actions"][r:r + frameskip].reshape(-1) for r in rows])
        np.testing.assert_array_equal(item["actions"].numpy(), chunks)
        assert item["actions"].shape == (steps, frameskip * A)
        assert o + steps * frameskip <= LENGTHS[e]  # every action used lies inside the episode


def test_windows_action_chunk_layout(tmp_path):
    n = 9
    actions = np.stack([np.arange(n), 100 + np.arange(n)], axis=1).astype(np.float32)  # action t = (t, 100 + t)
    frames = np.zeros((n + 1, H, W, C), np.uint8)
    store = write(tmp_path / "s", [(frames, actions, np.zeros((n + 1, S), np.float32))])
    item = TrajectoryWindows(store, steps=3, frameskip=2)[1]
    assert item["actions"].tolist() == [[1, 101, 2, 102], [3, 103, 4, 104], [5, 105, 6, 106]]
    assert len(TrajectoryWindows(store, steps=3, frameskip=3)) == 1
    with pytest.raises(ValueError, match="no window fits"):
        TrajectoryWindows(store, steps=4, frameskip=3)


def test_windows_subset_and_split(store):
    train, test = split_episodes(10, 0.3, seed=1)
    assert len(test) == 3 and len(train) == 7 and not set(train) & set(test)
    assert sorted([*train, *test]) == list(range(10))
    again = split_episodes(10, 0.3, seed=1)
    np.testing.assert_array_equal(train, again[0])
    np.testing.assert_array_equal(test, again[1])
    assert len(split_episodes(2, 0.1)[1]) == 1
    windows = TrajectoryWindows(store, 2, episodes=[2, 0])
    assert len(windows) == (12 - 1) + (7 - 1)
    assert {windows.locate(i)[0] for i in range(len(windows))} == {0, 2}


def test_frames_states(store):
    frames, states = frames_states(store)
    assert frames.shape == (store.num_steps, C, H, W) and frames.dtype == torch.uint8
    np.testing.assert_array_equal(frames.numpy(), store.frames[:].transpose(0, 3, 1, 2))
    frames, states = frames_states(store, max_frames=5, seed=3)
    assert frames.shape == (5, C, H, W) and states.shape == (5, S) and states.dtype == torch.float32
    rows = [np.flatnonzero((store.state[:] == s).all(1))[0] for s in states.numpy()]
    np.testing.assert_array_equal(frames.numpy(), store.frames[rows].transpose(0, 3, 1, 2))
    frames, _ = frames_states(store, episodes=[1])
    assert len(frames) == LENGTHS[1] + 1


def test_convert_npz_per_episode_files(tmp_path, episodes):
    src = tmp_path / "src"
    src.mkdir()
    for e, (frames, actions, state) in enumerate(episodes):
        if e == 1:  # channels-first, actions aligned with frames (last one dropped), "observations" key
            padded = np.concatenate([actions, np.ones((1, A), np.float32)])
            np.savez(src / f"ep{e}.npz", observations=frames.transpose(0, 3, 1, 2), actions=padded, state=state)
        else:
            np.savez(src / f"ep{e}.npz", frames=frames, actions=actions, state=state)
    store = convert_npz(src, tmp_path / "dst", env="mine")
    assert store.env == "mine" and store.num_episodes == 4
    for e, (frames, actions, state) in enumerate(episodes):
        got = store.episode(e)
        np.testing.assert_array_equal(got["frames"], frames)
        np.testing.assert_array_equal(got["actions"], actions)
        np.testing.assert_array_equal(got["state"], state)


def test_convert_npz_single_file_layouts(tmp_path, episodes):
    ragged = tmp_path / "ragged.npz"
    objects = [np.empty(len(episodes), dtype=object) for _ in range(2)]
    for e, (frames, actions, _) in enumerate(episodes):
        objects[0][e], objects[1][e] = frames, actions
    np.savez(ragged, frames=objects[0], actions=objects[1])
    store = convert_npz(ragged, tmp_path / "a")
    assert store.state_dim == 0 and store.num_episodes == 4
    np.testing.assert_array_equal(store.episode(2)["actions"], episodes[2][1])

    flat = tmp_path / "flat.npz"
    frames = np.concatenate([f for f, _, _ in episodes])
    state = np.concatenate([s for _, _, s in episodes])
    actions = np.concatenate([a for _, a, _ in episodes])
    np.savez(flat, frames=frames, actions=actions, state=state, episode_ends=np.cumsum(np.array(LENGTHS) + 1))
    store = convert_npz(flat, tmp_path / "b")
    np.testing.assert_array_equal(store.frames, frames)
    np.testing.assert_array_equal(store.episode(3)["actions"], episodes[3][1])
    np.testing.assert_array_equal(store.state, state)

    np.savez(flat, frames=frames, actions=actions[:5], episode_ends=np.cumsum(np.array(LENGTHS) + 1))
    with pytest.raises(TrajectoryStoreError, match="flat.npz: expected 31 or 27 actions"):
        convert_npz(flat, tmp_path / "c")
    assert not (tmp_path / "c").exists()


class FakeEnv:
    """A point moving in the unit square; terminates when it leaves it, truncates after ``limit`` steps."""

    action_space = gym.spaces.Box(-1, 1, (A,), np.float32)

    def __init__(self, limit=6):
        self.limit = limit

    def _obs(self):
        pixels = np.zeros((H, W, C), np.uint8)
        pixels[..., 0] = int(255 * np.clip(self.pos[0], 0, 1))
        return {"pixels": pixels, "state": self.pos.astype(np.float32)}

    def reset(self, seed=None):
        rng = np.random.default_rng(seed)
        self.pos, self.t = rng.uniform(0.2, 0.8, 2), 0
        self.speed = 0.05 if seed % 2 else 0.5  # odd seeds stay inside, even seeds may leave early
        return self._obs(), {}

    def step(self, action):
        self.pos = self.pos + self.speed * action
        self.t += 1
        terminated = bool(np.any(self.pos < 0) or np.any(self.pos > 1))
        return self._obs(), 0.0, terminated, self.t >= self.limit, {"success": not terminated}


class FakePolicy:
    def reset(self, env, rng):
        self.rng = rng

    def act(self, env, observation):
        return np.sign(self.rng.uniform(-1, 1, A)).astype(np.float32)


def test_collect_fake_env(tmp_path):
    kwargs = dict(seed=4, max_steps=50, progress=False, retarget=False)
    first = collect(FakeEnv(), 6, FakePolicy(), tmp_path / "a", **kwargs)
    second = collect(FakeEnv(), 6, FakePolicy(), out=tmp_path / "b", **kwargs)
    for name in ("frames", "actions", "state", "starts"):
        np.testing.assert_array_equal(getattr(first, name), getattr(second, name))
    lengths = first.episode_lengths
    assert lengths.max() == 6 and lengths.min() < 6  # truncated at the env limit; some terminated earlier
    for e in range(first.num_episodes):
        episode = first.episode(e)
        env = FakeEnv()
        obs, _ = env.reset(seed=4 + e)
        np.testing.assert_array_equal(episode["state"][0], obs["state"])
        for t, action in enumerate(episode["actions"]):
            obs, _, terminated, truncated, _ = env.step(action)
            np.testing.assert_array_equal(episode["state"][t + 1], obs["state"])
            assert (terminated or truncated) == (t == len(episode["actions"]) - 1)
    capped = collect(FakeEnv(limit=100), 1, FakePolicy(), tmp_path / "c", seed=1, max_steps=3, progress=False,
                     retarget=False)
    assert capped.episode_lengths.tolist() == [3]  # odd seed: slow, neither terminated nor truncated by the env
    different = collect(FakeEnv(), 6, FakePolicy(), tmp_path / "d", seed=5, max_steps=50, progress=False,
                        retarget=False)
    assert not np.array_equal(different.state[:2], first.state[:2])
    with pytest.raises(DataError):
        collect(FakeEnv(), 1, FakePolicy(), tmp_path / "a", progress=False, retarget=False)


def test_collect_real_env(tmp_path):
    store = collect("tworoom", 2, "random", tmp_path / "real", image_size=32, max_steps=10, progress=False)
    assert store.image_size == (32, 32) and store.channels == 3 and store.state_dim == 2 and store.action_dim == 2
    assert store.num_episodes == 2 and (store.episode_lengths <= 10).all()


def test_collect_retargets_reached_goals(tmp_path):
    store = collect("tworoom", 2, "expert", tmp_path / "long", max_steps=120, progress=False)
    assert store.episode_lengths.tolist() == [120, 120]  # goals reached along the way did not end the episodes
    assert store.extra["goals_reached_per_episode"] >= 2
    short = collect("tworoom", 2, "expert", tmp_path / "short", max_steps=120, progress=False, retarget=False)
    assert (short.episode_lengths < 120).all()


def test_collect_mixes_policies_per_episode(tmp_path):
    store = collect("tworoom", 4, "expert,random", tmp_path / "mix", max_steps=60, progress=False)
    assert store.extra["policy"] == "expert,random"
    steps = [np.abs(np.diff(store.episode(e)["actions"], axis=0)).sum() for e in range(4)]
    assert steps[1] > steps[0] and steps[3] > steps[2]  # random actions jump more than the expert's
