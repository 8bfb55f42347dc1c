"""On-disk trajectories: episodes of (frames, actions, proprioceptive state), read lazily.

Format (version 1). A store is a folder::

    PATH/meta.json
    PATH/frames.npy          uint8   (N, H, W, C)  the observation of each row
    PATH/state.npy           float32 (N, S)        proprioceptive state of each row (S may be 0)
    PATH/actions.npy         float32 (N, A)        actions[i] is the action taken after observing row i
    PATH/has_action.npy      bool    (N,)          False on the last row of each episode (its action row is zeros)
    PATH/episode_starts.npy  int64   (E + 1,)      episode e is rows starts[e]:starts[e + 1]; starts[0] = 0,
                                                   strictly increasing, starts[E] = N
    PATH/goal.npy            float32 (N, G)        optional (G = ``goal_dim`` > 0): the goal the agent was after
                                                   when it observed each row (the env's ``info["goal"]``)

Rows are flat over episodes: an episode of L actions has L + 1 rows (the frame after the last action is
recorded, the action after it is not). ``meta.json`` holds::

    {"format": "openjepa-trajectories", "version": 1, "env": str | null, "episodes": E, "steps": N,
     "image_size": [H, W], "channels": C, "action_dim": A, "state_dim": S, "goal_dim": G (absent: 0),
     "fields": {"frames": {"dtype": "uint8", "shape": [N, H, W, C]}, ...one entry per file above...},
     "extra": {...free JSON...}}

The ``.npy`` files are standard NumPy files (C order, little endian); readers ignore ``fields`` entries and
files they do not know. To bring your own data, write it with ``TrajectoryWriter`` or ``convert_npz``.
"""

from __future__ import annotations

import itertools
import json
import shutil
import struct
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from openjepa.core.errors import DataError

FORMAT = "openjepa-trajectories"
VERSION = 1
_HEADER_BYTES = 128  # reserved for the .npy header of streamed files: magic (6) + version (2) + length (2) + text


class TrajectoryStoreError(DataError):
    """A trajectory store that cannot be read; the message names the file and what was expected."""


def _expected_fields(meta: dict) -> dict[str, tuple[str, tuple[int, ...]]]:
    """``{field: (dtype name, shape)}`` that the sizes in ``meta`` imply (``goal`` only with ``goal_dim`` > 0)."""
    n, (h, w) = meta["steps"], meta["image_size"]
    fields = {
        "frames": ("uint8", (n, h, w, meta["channels"])),
        "state": ("float32", (n, meta["state_dim"])),
        "actions": ("float32", (n, meta["action_dim"])),
        "has_action": ("bool", (n,)),
        "episode_starts": ("int64", (meta["episodes"] + 1,)),
    }
    if meta.get("goal_dim", 0):
        fields["goal"] = ("float32", (n, meta["goal_dim"]))
    return fields


def _fields_meta(meta: dict) -> dict[str, dict]:
    return {name: {"dtype": dtype, "shape": list(shape)} for name, (dtype, shape) in _expected_fields(meta).items()}


class TrajectoryStore:
    """A store opened as memory maps; opening reads only meta, offsets and ``has_action`` to validate them."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.meta = self._read_meta()
        arrays = {name: self._load(name, dtype, shape) for name, (dtype, shape) in _expected_fields(self.meta).items()}
        self.frames: np.ndarray = arrays["frames"]
        self.state: np.ndarray = arrays["state"]
        self.actions: np.ndarray = arrays["actions"]
        self.has_action: np.ndarray = arrays["has_action"]
        self.goal: np.ndarray | None = arrays.get("goal")
        self.starts = np.asarray(arrays["episode_starts"])
        self._check_offsets()

    def _read_meta(self) -> dict:
        meta_path = self.path / "meta.json"
        if not self.path.is_dir():
            raise TrajectoryStoreError(f"trajectory store not found: {self.path} (expected a folder with meta.json)")
        if not meta_path.is_file():
            raise TrajectoryStoreError(f"{meta_path} is missing: {self.path} is not a trajectory store")
        try:
            meta = json.loads(meta_path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise TrajectoryStoreError(f"{meta_path} is not valid JSON: {err}") from err
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            found = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
            raise TrajectoryStoreError(f"{meta_path}: expected format {FORMAT!r}, found {found!r}")
        if meta.get("version") != VERSION:
            raise TrajectoryStoreError(f"{meta_path}: expected version {VERSION}, found {meta.get('version')!r} "
                                       f"(this openjepa reads version {VERSION} only)")
        sizes = {"episodes": meta.get("episodes"), "steps": meta.get("steps"), "channels": meta.get("channels"),
                 "action_dim": meta.get("action_dim"), "state_dim": meta.get("state_dim"),
                 "goal_dim": meta.get("goal_dim", 0)}
        image_size = meta.get("image_size")
        if not (isinstance(image_size, list) and len(image_size) == 2):
            raise TrajectoryStoreError(f"{meta_path}: expected 'image_size': [H, W], found {image_size!r}")
        sizes.update(height=image_size[0], width=image_size[1])
        bad = {k: v for k, v in sizes.items() if not isinstance(v, int) or isinstance(v, bool) or v < 0}
        if bad:
            raise TrajectoryStoreError(f"{meta_path}: expected non-negative integers for {', '.join(bad)}, found {bad}")
        fields = meta.get("fields")
        if not isinstance(fields, dict):
            raise TrajectoryStoreError(f"{meta_path}: expected a 'fields' object describing each .npy file")
        for name, want in _fields_meta(meta).items():
            if fields.get(name) != want:
                raise TrajectoryStoreError(f"{meta_path}: fields[{name!r}] is {fields.get(name)!r}, but the sizes in "
                                           f"meta.json imply {want}")
        return meta

    def _load(self, name: str, dtype: str, shape: tuple[int, ...]) -> np.ndarray:
        file = self.path / f"{name}.npy"
        if not file.is_file():
            raise TrajectoryStoreError(f"{file} is missing (expected {dtype} array of shape {shape})")
        try:
            array = np.load(file, mmap_mode="r")
        except (ValueError, OSError, EOFError) as err:
            raise TrajectoryStoreError(f"{file} is truncated or not a .npy file (expected {dtype} array of shape "
                                       f"{shape}): {err}") from err
        if array.dtype != np.dtype(dtype) or array.shape != shape:
            raise TrajectoryStoreError(f"{file} holds {array.dtype} array of shape {array.shape}, but meta.json "
                                       f"says {dtype} {shape}")
        return array

    def _check_offsets(self) -> None:
        file, starts, n = self.path / "episode_starts.npy", self.starts, self.num_steps
        if starts[0] != 0 or starts[-1] != n:
            raise TrajectoryStoreError(f"{file}: expected offsets from 0 to {n} (the row count), found "
                                       f"{starts[0]} to {starts[-1]}")
        if np.any(np.diff(starts) <= 0):
            e = int(np.argmax(np.diff(starts) <= 0))
            raise TrajectoryStoreError(f"{file}: expected strictly increasing offsets, found starts[{e}] = "
                                       f"{starts[e]} >= starts[{e + 1}] = {starts[e + 1]}")
        expected = np.ones(n, dtype=bool)
        expected[starts[1:] - 1] = False
        if not np.array_equal(self.has_action, expected):
            row = int(np.argmax(self.has_action != expected))
            raise TrajectoryStoreError(f"{self.path / 'has_action.npy'}: expected False exactly on the last row of "
                                       f"each episode (per episode_starts.npy); row {row} disagrees")

    def __reduce__(self) -> tuple:
        return TrajectoryStore, (self.path,)  # reopen by path in worker processes instead of copying the maps

    def __repr__(self) -> str:
        return f"TrajectoryStore({str(self.path)!r}, episodes={self.num_episodes}, steps={self.num_steps})"

    @property
    def num_episodes(self) -> int:
        return int(self.meta["episodes"])

    @property
    def num_steps(self) -> int:
        """Rows N over all episodes (an episode of L actions has L + 1 rows)."""
        return int(self.meta["steps"])

    @property
    def image_size(self) -> tuple[int, int]:
        return tuple(self.meta["image_size"])

    @property
    def channels(self) -> int:
        return int(self.meta["channels"])

    @property
    def action_dim(self) -> int:
        return int(self.meta["action_dim"])

    @property
    def state_dim(self) -> int:
        return int(self.meta["state_dim"])

    @property
    def goal_dim(self) -> int:
        """Size G of the goal recorded with each row; 0 when the store has none."""
        return int(self.meta.get("goal_dim", 0))

    @property
    def env(self) -> str | None:
        return self.meta.get("env")

    @property
    def extra(self) -> dict:
        return self.meta.get("extra", {})

    @property
    def episode_lengths(self) -> np.ndarray:
        """``(E,)`` int64 number of actions L of each episode."""
        return np.diff(self.starts) - 1

    def episode(self, e: int) -> dict[str, np.ndarray]:
        """Episode ``e`` as memory-mapped views: frames (L+1, H, W, C), actions (L, A), state (L+1, S) and, when
        the store has goals, goal (L+1, G)."""
        if not -self.num_episodes <= e < self.num_episodes:
            raise IndexError(f"episode {e} out of range for a store of {self.num_episodes} episodes")
        e %= self.num_episodes
        begin, end = int(self.starts[e]), int(self.starts[e + 1])
        episode = {"frames": self.frames[begin:end], "actions": self.actions[begin:end - 1],
                   "state": self.state[begin:end]}
        if self.goal is not None:
            episode["goal"] = self.goal[begin:end]
        return episode


def _npy_header(dtype: np.dtype, shape: tuple[int, ...]) -> bytes:
    """A version 1.0 ``.npy`` header padded with spaces to exactly ``_HEADER_BYTES`` bytes."""
    text = repr({"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": shape})
    room = _HEADER_BYTES - 10
    if len(text) + 1 > room:
        raise ValueError(f".npy header for shape {shape} needs {len(text) + 1} bytes, only {room} are reserved")
    return np.lib.format.magic(1, 0) + struct.pack("<H", room) + (text.ljust(room - 1) + "\n").encode("latin1")


class _RowFile:
    """Rows of one dtype streamed to a ``.npy`` file; the header (with the final row count) is written at the end."""

    def __init__(self, path: Path, dtype: str, row_shape: tuple[int, ...]):
        self.dtype, self.row_shape, self.rows = np.dtype(dtype), row_shape, 0
        self._file = open(path, "wb")
        self._file.write(b"\0" * _HEADER_BYTES)

    def append(self, rows: np.ndarray) -> None:
        np.ascontiguousarray(rows, dtype=self.dtype).tofile(self._file)
        self.rows += len(rows)

    def finish(self) -> None:
        self._file.seek(0)
        self._file.write(_npy_header(self.dtype, (self.rows, *self.row_shape)))
        self._file.close()

    def close(self) -> None:
        self._file.close()


def _is_store_or_empty(path: Path) -> bool:
    return path.is_dir() and ((path / "meta.json").is_file() or not any(path.iterdir()))


def check_store_target(path: Path, overwrite: bool) -> None:
    """Refuse to write a store over anything but nothing, or (with ``overwrite``) a store or an empty folder."""
    path = Path(path)
    if not path.exists():
        return
    if not _is_store_or_empty(path):
        raise DataError(f"{path} exists and is not a trajectory store (no meta.json); refusing to replace it "
                        f"(nothing was written)")
    if not overwrite:
        raise DataError(f"{path} already exists; pass --overwrite (overwrite=True) to replace it once the new store "
                        f"is complete")


class TrajectoryWriter:
    """Streams episodes into a new store: rows go to a sibling temp folder, ``close()`` renames it to ``path``.

    ``path`` must not exist unless ``overwrite=True``; an existing store (or empty folder) is then replaced only
    once the new one is complete. Inside ``with``, an exception discards the temp folder and leaves ``path`` as it
    was. ``extra`` (a JSON-able dict, editable until ``close``) goes to ``meta.json``. With ``goal_dim`` > 0 every
    episode comes with the goal of each row.
    """

    def __init__(self, path: str | Path, *, image_size: int | tuple[int, int], channels: int, action_dim: int,
                 state_dim: int, env: str | None = None, extra: dict[str, Any] | None = None,
                 overwrite: bool = False, goal_dim: int = 0):
        self.path = Path(path)
        self.overwrite = overwrite
        self._check_target()
        h, w = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
        self.image_size, self.channels, self.action_dim, self.state_dim = (h, w), channels, action_dim, state_dim
        self.goal_dim = goal_dim
        self.env, self.extra = env, dict(extra or {})
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = Path(tempfile.mkdtemp(prefix=f".{self.path.name}.", suffix=".partial", dir=self.path.parent))
        self._files = {
            "frames": _RowFile(self._tmp / "frames.npy", "uint8", (h, w, channels)),
            "state": _RowFile(self._tmp / "state.npy", "float32", (state_dim,)),
            "actions": _RowFile(self._tmp / "actions.npy", "float32", (action_dim,)),
            "has_action": _RowFile(self._tmp / "has_action.npy", "bool", ()),
        }
        if goal_dim:
            self._files["goal"] = _RowFile(self._tmp / "goal.npy", "float32", (goal_dim,))
        self._starts = [0]
        self._open = True

    def _check_target(self) -> None:
        check_store_target(self.path, self.overwrite)

    @property
    def num_episodes(self) -> int:
        return len(self._starts) - 1

    def add_episode(self, frames: np.ndarray, actions: np.ndarray, state: np.ndarray,
                    goal: np.ndarray | None = None) -> None:
        """Append one episode: frames (L+1, H, W, C) uint8, actions (L, A), state (L+1, S), L >= 1, and goal
        (L+1, G) exactly when the writer has ``goal_dim`` G > 0."""
        if not self._open:
            raise RuntimeError(f"writer for {self.path} is closed")
        frames, actions, state = np.asarray(frames), np.asarray(actions), np.asarray(state)
        (h, w), c, a, s = self.image_size, self.channels, self.action_dim, self.state_dim
        if frames.dtype != np.uint8:
            raise ValueError(f"frames must be uint8 (values 0..255), got {frames.dtype}")
        if frames.ndim != 4 or frames.shape[1:] != (h, w, c) or len(frames) < 2:
            raise ValueError(f"frames must have shape (L+1, {h}, {w}, {c}) with L >= 1, got {frames.shape}")
        steps = len(frames) - 1
        if actions.shape != (steps, a) or not np.issubdtype(actions.dtype, np.number):
            raise ValueError(f"actions must be numeric with shape ({steps}, {a}) for {steps + 1} frames, "
                             f"got {actions.dtype} {actions.shape}")
        if state.shape != (steps + 1, s) or not np.issubdtype(state.dtype, np.number):
            raise ValueError(f"state must be numeric with shape ({steps + 1}, {s}) for {steps + 1} frames, "
                             f"got {state.dtype} {state.shape}")
        if (goal is None) != (not self.goal_dim) or (goal is not None and np.shape(goal) != (steps + 1, self.goal_dim)):
            want = f"goal of shape ({steps + 1}, {self.goal_dim})" if self.goal_dim else "no goal (goal_dim is 0)"
            raise ValueError(f"this store takes {want}, got {None if goal is None else np.shape(goal)}")
        if goal is not None:
            self._files["goal"].append(goal)
        self._files["frames"].append(frames)
        self._files["state"].append(state)
        self._files["actions"].append(np.concatenate([actions, np.zeros((1, a))]))
        self._files["has_action"].append(np.arange(steps + 1) < steps)
        self._starts.append(self._starts[-1] + steps + 1)

    def close(self) -> TrajectoryStore:
        """Finish the files and meta.json, move the folder to ``path`` and return it opened."""
        if not self._open:
            raise RuntimeError(f"writer for {self.path} is closed")
        if not self.num_episodes:
            self.abort()
            raise ValueError(f"no episodes were added; nothing written to {self.path}")
        try:
            self._finish()
            self._check_target()
        except BaseException:
            self.abort()
            raise
        if self.path.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{self.path.name}.", suffix=".old", dir=self.path.parent))
            self.path.rename(old / "store")
            self._tmp.rename(self.path)
            shutil.rmtree(old)
        else:
            self._tmp.rename(self.path)
        self._open = False
        return TrajectoryStore(self.path)

    def _finish(self) -> None:
        for file in self._files.values():
            file.finish()
        np.save(self._tmp / "episode_starts.npy", np.asarray(self._starts, dtype=np.int64))
        meta = {"format": FORMAT, "version": VERSION, "env": self.env, "episodes": self.num_episodes,
                "steps": self._starts[-1], "image_size": list(self.image_size), "channels": self.channels,
                "action_dim": self.action_dim, "state_dim": self.state_dim}
        if self.goal_dim:
            meta["goal_dim"] = self.goal_dim
        meta["fields"] = _fields_meta(meta)
        meta["extra"] = self.extra
        (self._tmp / "meta.json").write_text(json.dumps(meta, indent=2))

    def abort(self) -> None:
        """Discard everything written; ``path`` is left as it was."""
        for file in self._files.values():
            file.close()
        self._open = False
        shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self) -> TrajectoryWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()
        elif self._open:
            self.close()


def _npz_episodes(file: Path) -> Iterator[tuple[str, np.ndarray, np.ndarray, np.ndarray | None]]:
    """``(where, frames, actions, state or None)`` for each episode in one ``.npz`` file, as stored there."""
    with np.load(file, allow_pickle=True) as data:
        key = "frames" if "frames" in data.files else "observations"
        if key not in data.files or "actions" not in data.files:
            raise TrajectoryStoreError(f"{file}: expected arrays 'frames' (or 'observations') and 'actions', found "
                                       f"{sorted(data.files)}")
        frames, actions = data[key], data["actions"]
        state = data["state"] if "state" in data.files else None
        if "episode_ends" in data.files:
            ends = np.asarray(data["episode_ends"], dtype=np.int64).reshape(-1)
            if len(ends) == 0 or ends[0] <= 0 or np.any(np.diff(ends) <= 0) or ends[-1] != len(frames):
                raise TrajectoryStoreError(f"{file}: expected 'episode_ends' strictly increasing from > 0 to "
                                           f"{len(frames)} (the frame count), found {ends.tolist()[:8]}...")
            if len(actions) == len(frames):
                action_ends = ends
            elif len(actions) == len(frames) - len(ends):
                action_ends = ends - np.arange(1, len(ends) + 1)
            else:
                raise TrajectoryStoreError(f"{file}: expected {len(frames)} or {len(frames) - len(ends)} actions for "
                                           f"{len(frames)} frames in {len(ends)} episodes, found {len(actions)}")
            starts, action_starts = np.r_[0, ends[:-1]], np.r_[0, action_ends[:-1]]
            for e in range(len(ends)):
                yield (f"{file} episode {e}", frames[starts[e]:ends[e]], actions[action_starts[e]:action_ends[e]],
                       None if state is None else state[starts[e]:ends[e]])
        elif frames.dtype == object:
            if len(actions) != len(frames) or (state is not None and len(state) != len(frames)):
                raise TrajectoryStoreError(f"{file}: expected as many 'actions' (and 'state') episodes as "
                                           f"'{key}' episodes ({len(frames)}), found {len(actions)}")
            for e in range(len(frames)):
                yield f"{file} episode {e}", frames[e], actions[e], None if state is None else state[e]
        else:
            yield str(file), frames, actions, state


def _normalise(where: str, frames: np.ndarray, actions: np.ndarray,
               state: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Frames (T, H, W, C) uint8, actions (T-1, A) float32, state (T, S) float32 from the accepted layouts."""
    frames, actions = np.asarray(frames), np.asarray(actions, dtype=np.float32)
    if frames.dtype != np.uint8:
        raise TrajectoryStoreError(f"{where}: expected uint8 frames (0..255), found {frames.dtype}")
    if frames.ndim == 3:
        frames = frames[..., None]
    if frames.ndim != 4:
        raise TrajectoryStoreError(f"{where}: expected frames (T, H, W, C), (T, C, H, W) or (T, H, W), found "
                                   f"shape {frames.shape}")
    if frames.shape[1] in (1, 3) and frames.shape[3] not in (1, 3):
        frames = frames.transpose(0, 2, 3, 1)
    steps = len(frames)
    actions = actions.reshape(len(actions), -1)
    if len(actions) == steps:
        actions = actions[:-1]  # the last action's outcome is not observed
    if len(actions) != steps - 1:
        raise TrajectoryStoreError(f"{where}: expected {steps - 1} or {steps} actions for {steps} frames, "
                                   f"found {len(actions)}")
    state = np.zeros((steps, 0), np.float32) if state is None else np.asarray(state, np.float32).reshape(steps, -1)
    return frames, actions, state


def convert_npz(src: str | Path, dst: str | Path, *, env: str | None = None, extra: dict[str, Any] | None = None,
                overwrite: bool = False) -> TrajectoryStore:
    """Convert plain ``.npz`` episodes into a store at ``dst`` and return it opened.

    ``src`` is one ``.npz`` file or a folder of them (read in sorted name order). Each file holds arrays
    ``frames`` (or ``observations``), ``actions`` and optionally ``state``, in one of three layouts:

    - one episode: frames (T, H, W, C), (T, C, H, W) or (T, H, W) uint8; actions (T-1, A) or (T, A) (the last
      action, whose outcome is not observed, is then dropped); state (T, S);
    - several episodes as object arrays with one such array per episode (unpickled: convert only files you trust);
    - flat arrays over all episodes plus ``episode_ends`` (E,), the exclusive end row of each episode in frames and
      state; actions are then aligned with frames (N rows) or have one row fewer per episode (N - E rows).

    Frames are channels-first when axis 1 has size 1 or 3 and the last axis does not. Without ``state``,
    ``state_dim`` is 0.
    """
    src = Path(src)
    files = sorted(src.glob("*.npz")) if src.is_dir() else [src]
    if not files or not files[0].is_file():
        raise TrajectoryStoreError(f"no .npz files at {src} (expected a .npz file or a folder of them)")
    episodes = ((episode[0], *_normalise(*episode)) for file in files for episode in _npz_episodes(file))
    first = next(episodes, None)
    if first is None:
        raise TrajectoryStoreError(f"no episodes in {src}")
    _, frames, actions, state = first
    with TrajectoryWriter(dst, image_size=frames.shape[1:3], channels=frames.shape[3], action_dim=actions.shape[1],
                          state_dim=state.shape[1], env=env, extra=extra, overwrite=overwrite) as writer:
        for where, frames, actions, state in itertools.chain([first], episodes):
            try:
                writer.add_episode(frames, actions, state)
            except ValueError as err:
                raise TrajectoryStoreError(f"{where}: {err} (sizes are taken from the first episode)") from err
        return writer.close()
