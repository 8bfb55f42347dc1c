"""dm_control Reacher (``easy`` task) with the gymnasium API: a two-link planar arm touches a target with its
fingertip. Needs ``pip install openjepa[reacher]``; renders offscreen with ``MUJOCO_GL=egl`` unless set (Mesa's
software EGL works on machines without a GPU).

Observation: ``{"pixels": uint8 (S, S, 3), "state": float32 (8,)}``, the top-down camera's frame and
``(shoulder, wrist, shoulder velocity, wrist velocity, finger x, finger y, target x, target y)`` (angles in
radians, the shoulder wrapped to [-pi, pi); positions in metres, the shoulder at the origin). Action: float32
(2,) in [-1, 1], the two joint torques (the task's control range). One step is 0.02 s. A reset draws the task's
start (joint angles uniform in their ranges, at rest) and target (0.05 to 0.20 m from the shoulder), drawing again
while the fingertip already touches the target. ``success``: the fingertip touches the target, i.e. the task's
sparse reward is 1 (finger-target distance, also ``info["distance"]``, at most the sum of their radii:
0.05 + 0.01 m); ``terminated`` then, ``truncated`` after ``max_steps`` steps. ``info["goal_pixels"]`` shows the arm
with its fingertip on the target centre (the inverse-kinematics solution nearer the start), and ``info["goal"]``
is that state. ``reset(options=...)`` takes ``start`` (a state ``(8,)``; its angles and velocities are used) and
``goal`` (target ``(x, y)``). With shadows and multisampling off, a shared 2-core CPU machine renders about 375
frames per second at 64 px and runs about 240 steps per second with observations.
"""

from __future__ import annotations

import logging
import os
from typing import Any

os.environ.setdefault("MUJOCO_GL", "egl")
for _name in ("absl", "OpenGL.acceleratesupport"):  # quiet the INFO lines dm_control and PyOpenGL log on import
    logging.getLogger(_name).setLevel(logging.WARNING)

import gymnasium  # noqa: E402
import numpy as np  # noqa: E402
from dm_control.suite import reacher as suite  # noqa: E402
from gymnasium import spaces  # noqa: E402

from openjepa.control.envs.checks import check_action, check_settings, reset_options  # noqa: E402
from openjepa.control.envs.policies import RandomPolicy, noise_free  # noqa: E402

TARGET_SIZE = 0.05  # the easy task's target radius
OPTIONS = ("start", "goal")


def _wrap(angle: np.ndarray | float) -> np.ndarray:
    """Angles wrapped to [-pi, pi)."""
    return (np.asarray(angle) + np.pi) % (2 * np.pi) - np.pi


class ReacherEnv(gymnasium.Env):
    """dm_control's reacher-easy with TwoRoom's observation and info contract (see the module docstring)."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 50}

    def __init__(self, image_size: int = 64, max_steps: int = 200, render_mode: str | None = None) -> None:
        check_settings(image_size, max_steps, render_mode)
        self.image_size, self.max_steps, self.render_mode = image_size, max_steps, render_mode
        self.physics = suite.Physics.from_xml_string(*suite.get_model_and_assets())
        quality = self.physics.model.vis.quality
        quality.shadowsize, quality.offsamples = 0, 0  # read when the renderer starts: 7x faster frames on a CPU
        named = self.physics.named.model
        self.links = (float(named.body_pos["hand", "x"]), float(named.body_pos["finger", "x"]))
        self.wrist_limit = float(named.jnt_range["wrist", 1])
        self.observation_space = spaces.Dict({
            "pixels": spaces.Box(0, 255, (image_size, image_size, 3), np.uint8),
            "state": spaces.Box(-np.inf, np.inf, (8,), np.float32),
        })
        self.action_space = spaces.Box(-1.0, 1.0, (2,), np.float32)
        self._goal = np.zeros(8, np.float32)
        self._goal_pixels = np.zeros((image_size, image_size, 3), np.uint8)
        self._steps = 0

    @property
    def state(self) -> np.ndarray:
        """Joint angles, joint velocities, finger and target positions: float32 ``(8,)``."""
        qpos, qvel, xpos = self.physics.data.qpos, self.physics.data.qvel, self.physics.named.data.geom_xpos
        return np.concatenate([[_wrap(qpos[0]), qpos[1]], qvel, xpos["finger", :2], xpos["target", :2]]).astype(
            np.float32)

    @property
    def goal(self) -> np.ndarray:
        """The state shown in the goal frame (joint angles of the fingertip on the target, at rest): float32
        ``(8,)``."""
        return self._goal.copy()

    @property
    def touch_distance(self) -> float:
        """Largest finger-target distance that counts as success: the sum of their radii."""
        return float(self.physics.named.model.geom_size[["target", "finger"], 0].sum())

    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        super().reset(seed=seed)
        options = reset_options(options, OPTIONS)
        start = self._start(options["start"]) if "start" in options else None
        target = self._target(options["goal"]) if "goal" in options else None
        while True:
            task = suite.Reacher(TARGET_SIZE, random=np.random.RandomState(self.np_random.integers(2**31)))
            with self.physics.reset_context():
                task.initialize_episode(self.physics)
                if start is not None:
                    self.physics.data.qpos[:], self.physics.data.qvel[:] = start[:2], start[2:]
                if target is not None:
                    self.physics.named.model.geom_pos["target", :2] = target
            if (start is not None and target is not None) or not self._success():
                break
        target = self.physics.named.data.geom_xpos["target", :2].copy()
        angles = self.inverse_kinematics(target, near=self.physics.data.qpos)
        self._goal = np.concatenate([angles, [0.0, 0.0], target, target]).astype(np.float32)
        self._goal_pixels = self._render_at(angles)
        self._steps = 0
        return self._observation(), self._info()

    def step(self, action: np.ndarray) -> tuple[dict[str, np.ndarray], float, bool, bool, dict[str, Any]]:
        action = check_action(action)
        self.physics.set_control(action)
        self.physics.step()
        self._steps += 1
        info = self._info()
        return self._observation(), float(info["success"]), info["success"], self._steps >= self.max_steps, info

    def render(self) -> np.ndarray | None:
        """The current frame, uint8 ``(S, S, 3)``, when ``render_mode="rgb_array"``; None otherwise."""
        if self.render_mode is None:
            gymnasium.logger.warn("render() called without a render_mode; make the env with render_mode='rgb_array'")
            return None
        return self._frame()

    def fingertip(self, angles: np.ndarray) -> np.ndarray:
        """Fingertip ``(x, y)`` of joint angles ``(shoulder, wrist)``: ``(2,)``."""
        (l1, l2), (q1, q2) = self.links, angles
        return np.array([l1 * np.cos(q1) + l2 * np.cos(q1 + q2), l1 * np.sin(q1) + l2 * np.sin(q1 + q2)])

    def inverse_kinematics(self, target: np.ndarray, near: np.ndarray) -> np.ndarray:
        """Joint angles ``(shoulder, wrist)`` that put the fingertip on ``target`` ``(x, y)``: of the two solutions
        (elbow either way), the one nearer the angles ``near``; ``(2,)``. The target must be within reach."""
        (l1, l2), (x, y) = self.links, target
        cos_wrist = (x * x + y * y - l1 * l1 - l2 * l2) / (2 * l1 * l2)
        if not -1.0 <= cos_wrist <= 1.0 or np.arccos(cos_wrist) > self.wrist_limit:
            raise ValueError(f"target {np.asarray(target).tolist()} is out of the arm's reach")
        solutions = []
        for wrist in (np.arccos(cos_wrist), -np.arccos(cos_wrist)):
            shoulder = np.arctan2(y, x) - np.arctan2(l2 * np.sin(wrist), l1 + l2 * np.cos(wrist))
            solutions.append(np.array([_wrap(shoulder), wrist]))
        return min(solutions, key=lambda q: np.abs(_wrap(q - np.asarray(near, np.float64))).sum())

    def _frame(self) -> np.ndarray:
        return self.physics.render(self.image_size, self.image_size, camera_id=0)

    def _render_at(self, angles: np.ndarray) -> np.ndarray:
        """The frame with the arm at joint angles ``angles``, leaving the simulation as it was."""
        saved = self.physics.get_state()
        self.physics.data.qpos[:] = angles
        self.physics.forward()
        frame = self._frame()
        self.physics.set_state(saved)
        self.physics.forward()
        return frame

    def _start(self, value: Any) -> np.ndarray:
        """Validate the ``start`` option: the state's joint angles and velocities, float64 ``(4,)``."""
        state = np.asarray(value, dtype=np.float64)
        if state.shape != (8,) or not np.isfinite(state).all():
            raise ValueError(f"options 'start' must be a finite state of shape (8,), got {np.asarray(value).tolist()}")
        return state[:4]

    def _target(self, value: Any) -> np.ndarray:
        """Validate the ``goal`` option: a target ``(x, y)`` within reach, float64 ``(2,)``."""
        target = np.asarray(value, dtype=np.float64)
        if target.shape != (2,) or not np.isfinite(target).all():
            raise ValueError(f"options 'goal' must be a target (x, y), got {np.asarray(value).tolist()}")
        self.inverse_kinematics(target, near=np.zeros(2))
        return target

    def _success(self) -> bool:
        return bool(self.physics.finger_to_target_dist() <= self.touch_distance)

    def _observation(self) -> dict[str, np.ndarray]:
        return {"pixels": self._frame(), "state": self.state}

    def _info(self) -> dict[str, Any]:
        return {"goal": self.goal, "goal_pixels": self._goal_pixels.copy(),
                "distance": float(self.physics.finger_to_target_dist()), "success": self._success()}


class ReacherExpert:
    """A PD controller in joint space toward the goal's joint angles (``env.goal``), torques clipped to [-1, 1], plus
    Gaussian noise of std ``noise`` on each torque; ``noise=0`` is the expert."""

    def __init__(self, noise: float = 0.3, kp: float = 2.0, kd: float = 0.3) -> None:
        if not noise >= 0.0 or not kp > 0.0 or not kd >= 0.0:
            raise ValueError(f"noise and kd must be >= 0 and kp > 0, got noise={noise}, kp={kp}, kd={kd}")
        self.noise, self.kp, self.kd = noise, kp, kd
        self._rng = np.random.default_rng()

    def reset(self, env: ReacherEnv, rng: np.random.Generator) -> None:
        self._rng = rng

    def act(self, env: ReacherEnv, observation: dict | None = None) -> np.ndarray:
        state, goal = env.state.astype(np.float64), env.goal.astype(np.float64)
        error = np.array([_wrap(goal[0] - state[0]), goal[1] - state[1]])  # the shoulder turns freely, the wrist not
        torque = self.kp * error - self.kd * state[2:4] + self.noise * self._rng.standard_normal(2)
        return np.clip(torque, -1.0, 1.0).astype(np.float32)


POLICIES = {"random": RandomPolicy, "noisy_expert": ReacherExpert, "expert": noise_free(ReacherExpert)}
