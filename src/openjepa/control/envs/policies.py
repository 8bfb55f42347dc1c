"""Scripted policies for TwoRoom and the open arena: data collection and baselines for world-model planning.

One interface for every policy of the control stack (scripted, learned, model-predictive control): ``policy.reset(env,
rng)`` at the start of an episode, then ``policy.act(env, observation)`` each step returns a float32 action in
[-1, 1] of the env's action shape; ``observation`` holds the env's ``pixels`` and ``state`` and the ``goal`` and
``goal_pixels`` of its info (:mod:`openjepa.control.envs.episodes` runs the loop). The scripted policies here read
``env.state`` and ``env.goal`` instead. The random policy serves every env.

Success rates on TwoRoom different-room episodes (defaults: 32 px, max_steps 200, success_radius 0.08; 50 episodes,
episode e seeded ``seed + e``): seed 0: expert 1.00, noisy_expert (noise 0.3) 1.00, straight_line 0.56, random (actions held 1-8 steps) 0.14;
seeds 1000, 2000, 3000, 4000: straight_line 0.56 / 0.62 / 0.52 / 0.58, random 0.08 / 0.14 / 0.22 / 0.16. Measured with

    .venv/bin/python -c "from openjepa.control.envs import make_env, make_policy, success_rate; \\
    [print(n, success_rate(make_env('tworoom'), make_policy(n), episodes=50, seed=0)) \\
    for n in ('expert', 'noisy_expert', 'straight_line', 'random')]"

The straight line wins when the goal's y lies on the far side of the door from where the line meets the wall (the
agent then slides along the wall into the doorway) or when the line goes through the door; otherwise it stays
pressed against the wall.
"""

from __future__ import annotations

from typing import Any, Callable, Protocol

import numpy as np

from openjepa.control.envs.tworoom import TwoRoomEnv

ALIGN = 0.5  # share of the doorway's free half-height within which the expert counts as lined up with the door


class Policy(Protocol):
    """``reset(env, rng)`` once per episode (and after a new goal), then ``act(env, observation)`` -> float32 action
    ``(A,)`` each step; ``observation``: ``{"pixels", "state", "goal", "goal_pixels"}`` arrays."""

    def reset(self, env: Any, rng: np.random.Generator) -> None: ...

    def act(self, env: Any, observation: dict[str, np.ndarray]) -> np.ndarray: ...


def _toward(state: np.ndarray, target: np.ndarray, max_step: float) -> np.ndarray:
    """Unit-speed velocity from ``state`` to ``target``, slowed to land on it when within one step: ``(2,)``."""
    offset = np.asarray(target, np.float64) - state
    distance = float(np.linalg.norm(offset))
    if distance == 0.0:
        return np.zeros(2)
    return offset / distance * min(1.0, distance / max_step)


def _waypoint(env: TwoRoomEnv, state: np.ndarray, goal: np.ndarray) -> np.ndarray:
    """Where the expert heads: the goal when nothing is between, else the door.

    Across the wall it first goes to the entrance, a point straight in front of the door centre, until it is lined up
    with the door; then to the exit on the far side (a straight, level path through the doorway); then the goal.
    """
    if not env.wall:
        return goal
    here, there = state[0] - env.wall_x, goal[0] - env.wall_x
    in_doorway = abs(here) < env.clearance
    if (here >= 0) == (there >= 0) and not in_doorway:
        return goal
    ahead = env.clearance + env.max_step
    exit_ = np.array([env.wall_x + np.copysign(ahead, there), env.door_center])
    lined_up = abs(state[1] - env.door_center) < ALIGN * (env.door_size / 2 - env.radius)
    if in_doorway or lined_up:
        return np.clip(exit_, env.radius, 1 - env.radius)
    entrance = np.array([env.wall_x + np.copysign(ahead, here), env.door_center])
    return np.clip(entrance, env.radius, 1 - env.radius)


class RandomPolicy:
    """Uniform actions in [-1, 1]^A (A from ``env.action_space``), each held for a uniform 1..``max_hold`` steps.

    Holding makes the walk travel (about 0.17 of the side per held action at the default ``max_step`` rather than a
    jitter in place), so random episodes cover the arena and about half of the 200-step ones pass the door.
    """

    def __init__(self, max_hold: int = 8) -> None:
        if max_hold < 1:
            raise ValueError(f"max_hold must be >= 1, got {max_hold}")
        self.max_hold = max_hold
        self._rng = np.random.default_rng()
        self._action = np.zeros(0, np.float32)
        self._left = 0

    def reset(self, env: TwoRoomEnv, rng: np.random.Generator) -> None:
        self._rng, self._left = rng, 0

    def act(self, env: TwoRoomEnv, observation: dict | None = None) -> np.ndarray:
        if self._left == 0:
            self._action = self._rng.uniform(-1.0, 1.0, env.action_space.shape).astype(np.float32)
            self._left = int(self._rng.integers(1, self.max_hold + 1))
        self._left -= 1
        return self._action.copy()


class NoisyExpert:
    """Heads for the goal at unit speed, through the door when the goal is in the other room; adds Gaussian noise of
    std ``noise`` to each action component, then clips to [-1, 1]. ``noise=0`` is the expert."""

    def __init__(self, noise: float = 0.3) -> None:
        if not noise >= 0.0:
            raise ValueError(f"noise must be >= 0, got {noise}")
        self.noise = noise
        self._rng = np.random.default_rng()

    def reset(self, env: TwoRoomEnv, rng: np.random.Generator) -> None:
        self._rng = rng

    def act(self, env: TwoRoomEnv, observation: dict | None = None) -> np.ndarray:
        state = env.state.astype(np.float64)
        action = _toward(state, _waypoint(env, state, env.goal), env.max_step)
        action = action + self.noise * self._rng.standard_normal(2)
        return np.clip(action, -1.0, 1.0).astype(np.float32)


class StraightLine:
    """Full speed straight at the goal, blind to walls: the naive baseline."""

    def reset(self, env: TwoRoomEnv, rng: np.random.Generator) -> None:
        pass

    def act(self, env: TwoRoomEnv, observation: dict | None = None) -> np.ndarray:
        return _toward(env.state.astype(np.float64), env.goal, env.max_step).astype(np.float32)


def noise_free(noisy: Callable[..., Policy]) -> Callable[[], Policy]:
    """The ``expert`` entry of a policy table: the ``noisy`` policy class with ``noise=0``, taking no arguments."""

    def expert(**kwargs: Any) -> Policy:
        if kwargs:
            raise ValueError(f"'expert' is {noisy.__name__} with noise 0 and takes no arguments, got {sorted(kwargs)}; "
                             "use 'noisy_expert' to set the noise")
        return noisy(noise=0.0)

    return expert


POLICIES: dict[str, Callable[..., Policy]] = {
    "random": RandomPolicy, "noisy_expert": NoisyExpert, "expert": noise_free(NoisyExpert),
    "straight_line": StraightLine,
}
