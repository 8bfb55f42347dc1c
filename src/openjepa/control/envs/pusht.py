"""PushT (gym-pusht 0.1.8): push a T-shaped block onto its goal pose with a round pusher. Needs
``pip install openjepa[pusht]``; draws offscreen (``SDL_VIDEODRIVER=dummy`` unless set).

The board is 512 x 512 board pixels, x to the right, y down. Observation: ``{"pixels": uint8 (S, S, 3),
"state": float32 (5,)}``, the state gym-pusht's ``(pusher x, pusher y, block x, block y, block angle)``, angle in
[0, 2 pi). Action: float32 (2,) in [-1, 1], where the pusher should go, ``(a + 1) * 256`` on the board (gym-pusht's
PD controller drives it there for one 0.1 s step). The goal is gym-pusht's fixed block pose (256, 256, pi/4), drawn
in light green in every frame; ``info["goal_pixels"]`` shows the block on it with the pusher at its rest position
(256, 400), and ``info["goal"]`` is that state. ``success``: the block covers more than 95 % of the goal area
(gym-pusht's test, also in ``info["coverage"]``); ``terminated`` then, ``truncated`` after ``max_steps`` steps.
Reward: gym-pusht's (coverage / 0.95, at most 1). ``info["distance"]``: block centre to goal centre, board pixels.
``reset(options={"start": state})`` places pusher and block at a state ``(5,)``; otherwise gym-pusht draws them.
"""

from __future__ import annotations

import os
from typing import Any

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

import gymnasium  # noqa: E402
import numpy as np  # noqa: E402
from gym_pusht.envs import PushTEnv as GymPushT  # noqa: E402
from gymnasium import spaces  # noqa: E402

from openjepa.control.envs.checks import check_action, check_settings, reset_options  # noqa: E402
from openjepa.control.envs.policies import RandomPolicy  # noqa: E402

BOARD = 512.0
REST = (256.0, 400.0)  # the pusher's position in gym-pusht's set-up, clear of the block at its goal pose
OPTIONS = ("start",)


class PushTEnv(gymnasium.Env):
    """gym-pusht's PushT with TwoRoom's observation and info contract (see the module docstring)."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}
    fixed_goal = True  # every episode has the same goal: reaching it cannot be followed by a new one

    def __init__(self, image_size: int = 64, max_steps: int = 300, render_mode: str | None = None) -> None:
        check_settings(image_size, max_steps, render_mode)
        self.image_size, self.max_steps, self.render_mode = image_size, max_steps, render_mode
        self._env = GymPushT(obs_type="pixels_agent_pos", observation_width=image_size, observation_height=image_size)
        self.observation_space = spaces.Dict({
            "pixels": spaces.Box(0, 255, (image_size, image_size, 3), np.uint8),
            "state": spaces.Box(np.zeros(5, np.float32), np.array([BOARD] * 4 + [2 * np.pi], np.float32)),
        })
        self.action_space = spaces.Box(-1.0, 1.0, (2,), np.float32)
        self._env.reset(seed=0)
        self._goal = np.array([*REST, *self._env.goal_pose], np.float32)
        self._goal_pixels = self._place(self._goal)
        self._pixels = self._goal_pixels
        self._steps = 0

    @property
    def state(self) -> np.ndarray:
        """``(pusher x, pusher y, block x, block y, block angle)``: float32 ``(5,)``."""
        agent, block = self._env.agent, self._env.block
        return np.array([*agent.position, *block.position, block.angle % (2 * np.pi)], np.float32)

    @property
    def goal(self) -> np.ndarray:
        """The state shown in the goal frame: float32 ``(5,)``."""
        return self._goal.copy()

    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        super().reset(seed=seed)
        options = reset_options(options, OPTIONS)
        obs, _ = self._env.reset(seed=int(self.np_random.integers(2**31)))
        self._pixels = obs["pixels"]
        if "start" in options:
            self._pixels = self._place(self._start(options["start"]))
        self._steps = 0
        return self._observation(), self._info(self._env._get_coverage())

    def step(self, action: np.ndarray) -> tuple[dict[str, np.ndarray], float, bool, bool, dict[str, Any]]:
        action = check_action(action)
        obs, reward, _, _, inner = self._env.step((action + 1.0) * (BOARD / 2))
        self._pixels = obs["pixels"]
        self._steps += 1
        info = self._info(inner["coverage"])
        return self._observation(), float(reward), info["success"], self._steps >= self.max_steps, info

    def render(self) -> np.ndarray | None:
        """The current frame, uint8 ``(S, S, 3)``, when ``render_mode="rgb_array"``; None otherwise."""
        if self.render_mode is None:
            gymnasium.logger.warn("render() called without a render_mode; make the env with render_mode='rgb_array'")
            return None
        return self._pixels.copy()

    def _place(self, state: np.ndarray) -> np.ndarray:
        """Put pusher and block at ``state`` (at rest) and return the frame: uint8 ``(S, S, 3)``. The block turns
        about its centre of gravity, so the angle is set before the position; the shapes are then re-indexed so
        the drawing follows the bodies."""
        agent, block, space = self._env.agent, self._env.block, self._env.space
        agent.position = (float(state[0]), float(state[1]))
        block.angle = float(state[4])
        block.position = (float(state[2]), float(state[3]))
        for body in (agent, block):
            space.reindex_shapes_for_body(body)
        return self._env.get_obs()["pixels"]

    def _start(self, value: Any) -> np.ndarray:
        """Validate the ``start`` option: float64 ``(5,)`` on the board."""
        state = np.asarray(value, dtype=np.float64)
        if state.shape != (5,) or not np.isfinite(state).all() or not (0 <= state[:4]).all() or (
                state[:4] > BOARD).any():
            raise ValueError(f"options 'start' must be (pusher x, pusher y, block x, block y, block angle) with "
                             f"positions in [0, {BOARD:g}], got {np.asarray(value).tolist()}")
        return state

    def _observation(self) -> dict[str, np.ndarray]:
        return {"pixels": self._pixels.copy(), "state": self.state}

    def _info(self, coverage: float) -> dict[str, Any]:
        distance = float(np.hypot(*np.subtract(self._env.block.position, self._env.goal_pose[:2])))
        return {"goal": self.goal, "goal_pixels": self._goal_pixels.copy(), "coverage": float(coverage),
                "distance": distance, "success": bool(coverage > self._env.success_threshold)}


POLICIES = {"random": RandomPolicy}
