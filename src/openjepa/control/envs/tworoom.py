"""TwoRoom: a point agent in two rooms joined by a door (the TwoRoom task of PLDM / LeWorldModel), and its open arena.

The arena is the unit square; positions are ``(x, y)`` with x to the right along the image's columns and y pointing
down along its rows (pixel ``(row, col)`` covers ``[col/S, (col+1)/S] x [row/S, (row+1)/S]``). A
vertical wall of ``wall_thickness`` centred on x = 0.5 splits it into a left room (0) and a right room (1); the only
passage is a gap of ``door_size`` centred on y = ``door_center``. The agent is a disk of ``radius``; an action is a
velocity in [-1, 1]^2 and moves it by ``action * max_step``.

Collisions work on the agent's centre: each half of the wall, grown by ``radius`` on every side, is an axis-aligned
box the centre may touch but not enter (so the agent's footprint against the wall is its bounding square, and it
stops up to ``0.41 * radius`` short of a door corner on a diagonal). A move is traced as a segment; at the first
box it enters it stops on the box's face and keeps the motion along that face (it slides), at most twice per step,
then is clipped to the arena. Motion is exact for any step size: nothing tunnels through the wall or its corners.
Positions are kept float32-representable, and so are the faces, so the float32 ``state`` is exactly the position.

``TwoRoomPushesEnv`` makes TwoRoom stochastic: random pushes the actions do not decide, for world models with a
latent variable.
"""

from __future__ import annotations

import math
from typing import Any

import gymnasium
import numpy as np
from gymnasium import spaces

from openjepa.control.envs.checks import check_action, check_settings, reset_options

LEFT_FLOOR = (170, 190, 215)
RIGHT_FLOOR = (210, 196, 160)
WALL_COLOUR = (45, 45, 55)
AGENT_COLOUR = (250, 70, 40)
OPTIONS = ("start", "goal", "different_rooms")
REACH_APART = 0.4  # least start-goal distance for ``different_rooms`` in the open arena
PUSHES = ((1.0, 0.0), (-1.0, 0.0), (0.0, 1.0), (0.0, -1.0))  # a push's directions: right, left, down, up (y down)


def _f32(value: float) -> float:
    """``value`` rounded to the nearest float32."""
    return float(np.float32(value))


def _coverage(a: float, b: float, size: int) -> np.ndarray:
    """Fraction of each of ``size`` pixel intervals ``[k/size, (k+1)/size]`` inside ``[a, b]``: float64 ``(size,)``."""
    edges = np.arange(size + 1) / size
    return np.clip(np.minimum(b, edges[1:]) - np.maximum(a, edges[:-1]), 0.0, None) * size


def _entry(p: tuple[float, float], d: tuple[float, float], lo: tuple[float, float],
           hi: tuple[float, float]) -> tuple[float, int] | None:
    """First entry of the segment ``p + t d`` (t in [0, 1)) into the open box ``(lo, hi)``: ``(t, axis)`` or None.

    A segment that starts inside enters at t = 0 through the face it crossed last, which pushes the agent out.
    """
    t_in, t_out, axis = -math.inf, math.inf, 0
    for k in range(2):
        if d[k] == 0.0:
            if not lo[k] < p[k] < hi[k]:
                return None
            continue
        a, b = sorted(((lo[k] - p[k]) / d[k], (hi[k] - p[k]) / d[k]))
        if a > t_in:
            t_in, axis = a, k
        t_out = min(t_out, b)
    if t_in >= t_out or t_out <= 0.0 or t_in >= 1.0:
        return None
    return max(t_in, 0.0), axis


class TwoRoomEnv(gymnasium.Env):
    """Reach a goal position; with ``wall=True`` (TwoRoom) the goal may be in the other room, behind the door.

    Observation: ``{"pixels": uint8 (S, S, 3), "state": float32 (2,)}``, ``state`` the agent's ``(x, y)`` in [0, 1]
    (y down), S = ``image_size``. The goal is not drawn; ``info["goal_pixels"]`` shows the agent at the goal.
    Action: float32 (2,) in [-1, 1] (larger values are clipped), a velocity. Reward: minus the distance to the goal;
    ``terminated`` once it is below ``success_radius``, ``truncated`` after ``max_steps`` steps.
    ``reset(options=...)`` takes ``start`` and ``goal`` positions and ``different_rooms`` (start and goal in
    different rooms; in the open arena, at least 0.4 apart). Drawn starts and goals lie inside the rooms, never in
    the doorway, and never within ``success_radius`` of each other.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(self, image_size: int = 32, wall: bool = True, wall_thickness: float = 0.06, door_size: float = 0.2,
                 door_center: float = 0.5, radius: float = 0.04, max_step: float = 0.05, success_radius: float = 0.08,
                 max_steps: int = 200, render_mode: str | None = None) -> None:
        check_settings(image_size, max_steps, render_mode)
        if not 0.0 < radius < 0.2:
            raise ValueError(f"radius must be in (0, 0.2), got {radius}")
        if not 0.0 < wall_thickness < 1 - 4 * radius:
            raise ValueError(f"wall_thickness must be in (0, {1 - 4 * radius:.3g}) to leave room for the agent "
                             f"(radius {radius}), got {wall_thickness}")
        if not (2 * radius < door_size and 0.0 <= door_center - door_size / 2 and door_center + door_size / 2 <= 1.0):
            raise ValueError(f"door_size must exceed the agent's diameter {2 * radius} and the door "
                             f"[door_center - door_size/2, door_center + door_size/2] must lie in [0, 1], got "
                             f"door_size {door_size}, door_center {door_center}")
        if max_step <= 0.0 or success_radius <= 0.0:
            raise ValueError(f"max_step and success_radius must be > 0, got {max_step} and {success_radius}")
        self.image_size, self.wall, self.wall_thickness = image_size, wall, wall_thickness
        self.door_size, self.door_center, self.radius = door_size, door_center, radius
        self.max_step, self.success_radius, self.max_steps = max_step, success_radius, max_steps
        self.render_mode = render_mode
        self.wall_x = 0.5
        self.observation_space = spaces.Dict({
            "pixels": spaces.Box(0, 255, (image_size, image_size, 3), np.uint8),
            "state": spaces.Box(0.0, 1.0, (2,), np.float32),
        })
        self.action_space = spaces.Box(-1.0, 1.0, (2,), np.float32)
        self._bounds = (_f32(radius), _f32(1 - radius))  # the arena for the agent's centre
        self._boxes = self._wall_boxes() if wall else []
        self._background = self._draw_background()
        self._pos = np.full(2, 0.5)
        self._goal = np.full(2, 0.5)
        self._goal_pixels = self._background.copy()
        self._steps = 0

    @property
    def clearance(self) -> float:
        """Half-width of the band around x = 0.5 that the agent's centre can only cross through the doorway."""
        return self.wall_thickness / 2 + self.radius if self.wall else 0.0

    @property
    def state(self) -> np.ndarray:
        """The agent's position ``(x, y)``: float32 ``(2,)``."""
        return self._pos.astype(np.float32)

    @property
    def goal(self) -> np.ndarray:
        """The goal position ``(x, y)``: float32 ``(2,)``."""
        return self._goal.astype(np.float32)

    def room(self, state: np.ndarray) -> int:
        """0 for a position left of the wall (x < 0.5), 1 right of it."""
        return int(state[0] >= self.wall_x)

    def is_free(self, state: np.ndarray) -> bool:
        """Whether the agent's disk fits at ``state``: inside the arena and off the wall."""
        x, y = float(state[0]), float(state[1])
        lo, hi = self._bounds
        inside = lo <= x <= hi and lo <= y <= hi
        return inside and not any(lo[0] < x < hi[0] and lo[1] < y < hi[1] for lo, hi in self._boxes)

    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        super().reset(seed=seed)
        options = reset_options(options, OPTIONS)
        apart = bool(options.get("different_rooms", False))
        start = self._position(options["start"], "start") if "start" in options else self._sample()
        if "goal" in options:
            goal = self._position(options["goal"], "goal")
            if apart and not self._apart(start, goal):
                raise ValueError(f"options start {start.tolist()} and goal {goal.tolist()} do not satisfy "
                                 f"different_rooms=True")
        else:
            goal = self._sample()
            while np.linalg.norm(goal - start) <= self.success_radius or (apart and not self._apart(start, goal)):
                goal = self._sample()
        self._pos, self._goal, self._steps = start, goal, 0
        self._goal_pixels = self.render_state(self.goal)
        return self._observation(), self._info()

    def step(self, action: np.ndarray) -> tuple[dict[str, np.ndarray], float, bool, bool, dict[str, Any]]:
        self._pos = self._transition(self._pos, check_action(action))
        self._steps += 1
        info = self._info()
        return self._observation(), -info["distance"], info["success"], self._steps >= self.max_steps, info

    def render(self) -> np.ndarray | None:
        """The current frame, uint8 ``(S, S, 3)``, when ``render_mode="rgb_array"``; None otherwise."""
        if self.render_mode is None:
            gymnasium.logger.warn("render() called without a render_mode; make the env with render_mode='rgb_array'")
            return None
        return self.render_state(self.state)

    def render_state(self, state: np.ndarray) -> np.ndarray:
        """The frame with the agent at ``state`` ``(x, y)``: uint8 ``(S, S, 3)``; positions off the arena are drawn
        where they fall (partly or not at all)."""
        state = np.asarray(state, dtype=np.float64)
        if state.shape != (2,) or not np.isfinite(state).all():
            raise ValueError(f"state must be a finite (x, y) of shape (2,), got shape {state.shape}")
        size = self.image_size
        cx, cy, r = state[0] * size, state[1] * size, self.radius * size
        frame = self._background.copy()
        c0, c1 = max(int(cx - r - 1), 0), min(int(cx + r + 2), size)
        r0, r1 = max(int(cy - r - 1), 0), min(int(cy + r + 2), size)
        if c0 >= c1 or r0 >= r1:
            return frame
        cols, rows = np.arange(c0, c1) + 0.5, np.arange(r0, r1) + 0.5
        dist = np.hypot(cols[None, :] - cx, rows[:, None] - cy)
        alpha = np.clip(r - dist + 0.5, 0.0, 1.0)[..., None]  # ~ the share of each pixel the disk covers
        window = frame[r0:r1, c0:c1].astype(np.float32)
        frame[r0:r1, c0:c1] = np.rint(window + alpha * (np.array(AGENT_COLOUR, np.float32) - window)).astype(np.uint8)
        return frame

    def _wall_boxes(self) -> list[tuple[tuple[float, float], tuple[float, float]]]:
        """The two halves of the wall grown by the radius: ``(lo, hi)`` corners of boxes the centre may not enter."""
        left, right = _f32(self.wall_x - self.clearance), _f32(self.wall_x + self.clearance)
        top = _f32(self.door_center - self.door_size / 2 + self.radius)
        bottom = _f32(self.door_center + self.door_size / 2 - self.radius)
        return [((left, -math.inf), (right, top)), ((left, bottom), (right, math.inf))]

    def _draw_background(self) -> np.ndarray:
        """Floors and wall, box-filtered (each pixel the mean over its area): uint8 ``(S, S, 3)``."""
        size = self.image_size
        left = _coverage(0.0, self.wall_x, size)[None, :, None] if self.wall else np.ones((1, size, 1))
        floor = left * np.array(LEFT_FLOOR) + (1 - left) * np.array(RIGHT_FLOOR)
        image = np.broadcast_to(floor, (size, size, 3))
        if self.wall:
            half = self.wall_thickness / 2
            across = _coverage(self.wall_x - half, self.wall_x + half, size)
            door = (self.door_center - self.door_size / 2, self.door_center + self.door_size / 2)
            down = _coverage(0.0, door[0], size) + _coverage(door[1], 1.0, size)
            alpha = (down[:, None] * across[None, :])[..., None]
            image = image + alpha * (np.array(WALL_COLOUR) - image)
        return np.rint(image).astype(np.uint8)

    def _transition(self, pos: np.ndarray, action: np.ndarray) -> np.ndarray:
        """Where one step's checked ``action`` (2,) takes the agent from ``pos``: float64 ``(2,)``."""
        return self._move(pos, action * self.max_step)

    def _move(self, pos: np.ndarray, delta: np.ndarray) -> np.ndarray:
        """``pos + delta``, stopped and slid along the wall boxes, then clipped to the arena: float64 ``(2,)``."""
        p, d = [float(v) for v in pos], [float(v) for v in delta]
        while d != [0.0, 0.0]:  # each contact zeroes one component of d: two passes at most
            hits = [(*hit, lo, hi) for lo, hi in self._boxes if (hit := _entry((p[0], p[1]), (d[0], d[1]), lo, hi))]
            if not hits:
                p = [p[0] + d[0], p[1] + d[1]]
                break
            t, axis, lo, hi = min(hits)
            face = lo[axis] if d[axis] > 0 else hi[axis]
            p = [p[0] + t * d[0], p[1] + t * d[1]]
            p[axis] = face
            d = [(1 - t) * d[0], (1 - t) * d[1]]
            d[axis] = 0.0
        return self._snap(np.array(p))

    def _snap(self, pos: np.ndarray) -> np.ndarray:
        """``pos`` rounded to float32 and clipped to the arena: float64 ``(2,)``. Rounding keeps a free position free
        since every face is a float32."""
        return np.clip(pos.astype(np.float32).astype(np.float64), *self._bounds)

    def _sample(self) -> np.ndarray:
        """A uniform position inside the rooms (off the wall band, so never in the doorway): float64 ``(2,)``."""
        while True:
            pos = self.np_random.uniform(self.radius, 1 - self.radius, size=2)
            if abs(pos[0] - self.wall_x) > self.clearance:
                return self._snap(pos)

    def _apart(self, start: np.ndarray, goal: np.ndarray) -> bool:
        """The ``different_rooms`` condition: other room (TwoRoom) or at least 0.4 apart (open arena)."""
        if self.wall:
            return self.room(start) != self.room(goal)
        return float(np.linalg.norm(goal - start)) >= REACH_APART

    def _position(self, value: Any, name: str) -> np.ndarray:
        """Validate an ``options`` position: float64 ``(2,)``."""
        pos = np.asarray(value, dtype=np.float64)
        if pos.shape != (2,) or not np.isfinite(pos).all() or not self.is_free(pos):
            raise ValueError(f"options {name!r} must be a free (x, y) position: in [{self.radius}, "
                             f"{1 - self.radius}]^2 and off the wall, got {np.asarray(value).tolist()}")
        return self._snap(pos)

    def _observation(self) -> dict[str, np.ndarray]:
        state = self.state
        return {"pixels": self.render_state(state), "state": state}

    def _info(self) -> dict[str, Any]:
        distance = float(np.linalg.norm(self._pos - self._goal))
        return {"goal": self.goal, "goal_pixels": self._goal_pixels.copy(), "distance": distance,
                "success": distance < self.success_radius}


class ReachEnv(TwoRoomEnv):
    """The open arena: TwoRoom without its wall, a plain reach task (``different_rooms`` means >= 0.4 apart)."""

    def __init__(self, image_size: int = 32, radius: float = 0.04, max_step: float = 0.05,
                 success_radius: float = 0.08, max_steps: int = 200, render_mode: str | None = None) -> None:
        super().__init__(image_size=image_size, wall=False, radius=radius, max_step=max_step,
                         success_radius=success_radius, max_steps=max_steps, render_mode=render_mode)


class TwoRoomPushesEnv(TwoRoomEnv):
    """TwoRoom with random pushes: after each step's move, with probability ``push_prob`` the agent is pushed by
    ``push_size`` right, left, down or up (equally likely), stopped and slid by the wall and clipped to the arena as
    any move is. The draws come from the env's RNG, so an episode is a function of its reset seed and its actions.
    ``info["push"]``: this step's push, an index into :data:`PUSHES` (-1: none). The frames, tasks and policies are
    TwoRoom's; ``kwargs`` go to :class:`TwoRoomEnv`."""

    def __init__(self, image_size: int = 32, push_prob: float = 0.1, push_size: float = 0.1, **kwargs: Any) -> None:
        if not 0.0 <= push_prob <= 1.0 or push_size <= 0.0:
            raise ValueError(f"push_prob must be in [0, 1] and push_size > 0, got {push_prob} and {push_size}")
        super().__init__(image_size=image_size, **kwargs)
        self.push_prob, self.push_size = push_prob, push_size
        self._push = -1

    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        self._push = -1
        return super().reset(seed=seed, options=options)

    def _transition(self, pos: np.ndarray, action: np.ndarray) -> np.ndarray:
        pos = super()._transition(pos, action)
        self._push = -1
        if self.np_random.random() < self.push_prob:
            self._push = int(self.np_random.integers(len(PUSHES)))
            pos = self._move(pos, self.push_size * np.array(PUSHES[self._push]))
        return pos

    def _info(self) -> dict[str, Any]:
        return {**super()._info(), "push": self._push}
