"""Goal agents: a built-in forecasting task whose answer only the earliest frames hold (ThinkJEPA's thinker stream).

``goals`` grey markers sit on a circle around the centre (jittered per clip). In the first ``cue_frames`` frames the
marker of the agent's goal is drawn yellow; after them every marker looks alike. Over the ``observed`` frames the
agent (a red disc) walks from a random start to a waypoint near the centre at a pace drawn per clip, swaying across
its line (a sine of random period, phase and amplitude) with jitter, in a way that says nothing of its goal. Over the
``horizon`` frames after them it carries on from its last velocity and turns toward its goal: each frame ``TURN`` of
its velocity turns toward the goal at ``SPEEDUP`` times its pace (most stop short of it). A model that sees only
recent frames can forecast how the agent sets off but not where it heads; one that read the cue but sees the recent
frames only a few frames apart knows where it heads but not quite how it sets off.

Units: positions in fractions of the side, x right, y down. Frames are drawn at ``size`` px with soft edges (a
pixel's value follows the share of it a disc covers), so sub-pixel motion shows. Clips are drawn when read, from the
positions generated at load time; deterministic in ``seed``, train and test from disjoint seeds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from openjepa.data.registry import DATASETS
from openjepa.data.tracks import TrackData

GOAL_RADIUS = 0.34  # distance of the goal markers from the centre
GOAL_JITTER = 0.04  # per clip, each axis
WAYPOINT_JITTER = 0.06  # the observed walk's end, around the centre
PACE = (0.015, 0.025)  # the observed walk's speed, per frame (its start is kept 0.05 inside the frame)
NOISE = 0.006  # std of the jitter of each observed position
SWAY = (0.01, 0.03)  # amplitude of the observed walk's sway, each axis
SWAY_PERIOD = (6.0, 10.0)  # frames
SPEEDUP = 1.5  # speed over the horizon / the observed walk's
TURN = 0.25  # share of the velocity turned toward the goal each frame of the horizon
AGENT_RADIUS, MARKER_RADIUS = 0.065, 0.075
BACKGROUND = np.array([28, 32, 40], np.float32)
MARKER = np.array([130, 130, 130], np.float32)
CUE = np.array([250, 200, 30], np.float32)
AGENT = np.array([230, 60, 60], np.float32)


@dataclass
class GoalAgents:
    """One split: ``positions`` float32 ``(S, T, 2)`` of the agent; ``markers`` ``(S, K, 2)``; ``goal`` int64
    ``(S,)``, the marker the agent heads to; items ``(clip uint8 (3, T, size, size), {"positions": (T, 2)})``."""

    positions: torch.Tensor
    markers: np.ndarray
    goal: np.ndarray
    cue_frames: int
    size: int

    def __len__(self) -> int:
        return len(self.positions)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        clip = render(self.positions[index].numpy(), self.markers[index], int(self.goal[index]), self.cue_frames,
                      self.size)
        return torch.from_numpy(clip), {"positions": self.positions[index]}


def _coverage(centres: np.ndarray, radius: float, size: int) -> np.ndarray:
    """Share of each pixel a disc covers: centres ``(..., 2)`` -> ``(..., size, size)`` in [0, 1]."""
    pixel = (np.arange(size, dtype=np.float32) + 0.5) / size
    dist = np.hypot(pixel[None, :] - centres[..., 0, None, None], pixel[:, None] - centres[..., 1, None, None])
    return np.clip((radius - dist) * size + 0.5, 0.0, 1.0)


def render(positions: np.ndarray, markers: np.ndarray, goal: int, cue_frames: int, size: int) -> np.ndarray:
    """A clip of the agent at ``positions (T, 2)`` among ``markers (K, 2)``, marker ``goal`` yellow in the first
    ``cue_frames`` frames: uint8 ``(3, T, size, size)``."""
    T = len(positions)
    frame = np.broadcast_to(BACKGROUND[:, None, None, None], (3, T, size, size)).copy()
    for k, cover in enumerate(_coverage(markers, MARKER_RADIUS, size)):
        colour = np.repeat(MARKER[:, None], T, 1)  # (3, T)
        if k == goal:
            colour[:, :cue_frames] = CUE[:, None]
        frame += cover * (colour[..., None, None] - frame)
    frame += _coverage(positions, AGENT_RADIUS, size) * (AGENT[:, None, None, None] - frame)
    return frame.round().astype(np.uint8)


def make_goal_agents(count: int, observed: int, horizon: int, goals: int, cue_frames: int, size: int,
                     seed: int) -> GoalAgents:
    """``count`` clips of ``observed + horizon`` frames; see the module docstring."""
    rng = np.random.default_rng(seed)
    angles = np.pi / 4 + 2 * np.pi * np.arange(goals) / goals
    markers = 0.5 + GOAL_RADIUS * np.stack([np.cos(angles), np.sin(angles)], -1)
    markers = markers[None] + rng.uniform(-GOAL_JITTER, GOAL_JITTER, (count, goals, 2))
    goal = rng.integers(goals, size=count)
    waypoint = 0.5 + rng.uniform(-WAYPOINT_JITTER, WAYPOINT_JITTER, (count, 2))
    heading = rng.uniform(0, 2 * np.pi, count)
    reach = rng.uniform(*PACE, (count, 1)) * (observed - 1)
    start = np.clip(waypoint - reach * np.stack([np.cos(heading), np.sin(heading)], -1), 0.05, 0.95)
    base = (waypoint - start) / (observed - 1)
    time = np.arange(observed)[None, :, None]
    omega = 2 * np.pi / rng.uniform(*SWAY_PERIOD, (count, 1, 1))
    phase, sway = rng.uniform(0, 2 * np.pi, (count, 1, 2)), rng.uniform(*SWAY, (count, 1, 2))
    walk = start[:, None] + base[:, None] * time + sway * np.sin(omega * time + phase)
    walk += rng.normal(0, NOISE, walk.shape)
    velocity = base + (sway * omega * np.cos(omega * time[:, -1:] + phase))[:, 0]
    speed = SPEEDUP * np.linalg.norm(base, axis=1, keepdims=True)
    target = markers[np.arange(count), goal]
    position, future = walk[:, -1], []
    for _ in range(horizon):
        ahead = target - position
        distance = np.linalg.norm(ahead, axis=1, keepdims=True)
        velocity = (1 - TURN) * velocity + TURN * ahead / np.maximum(distance, 1e-9) * np.minimum(speed, distance)
        position = position + velocity
        future.append(position)
    positions = np.concatenate([walk, np.stack(future, 1)], 1).astype(np.float32)
    return GoalAgents(torch.from_numpy(positions), markers.astype(np.float32), goal, cue_frames, size)


@DATASETS.register("goal_agents", modality="tracks")
def goal_agents_dataset(cfg) -> TrackData:
    """The built-in ``goal_agents``: ``cfg.train_size`` training and ``cfg.test_size`` test clips (disjoint seeds)
    of ``cfg.observed + cfg.horizon`` frames at ``cfg.image_size`` px, ``cfg.goals`` goals, the cue in the first
    ``cfg.cue_frames``."""
    settings = (cfg.observed, cfg.horizon, cfg.goals, cfg.cue_frames, cfg.image_size)
    return TrackData("goal_agents", make_goal_agents(cfg.train_size, *settings, seed=1),
                     make_goal_agents(cfg.test_size, *settings, seed=2), cfg.observed, cfg.cue_frames)
