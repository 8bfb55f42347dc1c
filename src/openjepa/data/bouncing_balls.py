"""Bouncing balls: scenes of several balls that collide elastically with each other and with the walls of a unit
box, simulated in numpy, rendered as frames with per-object masks, with every ball's state (position, velocity) at
every frame. The built-in scenes of object-centric members (Causal-JEPA); a scene re-simulated without one of its
balls is the counterfactual that tests whether a model knows what each object causes.

Units: the box is [0, 1]^2 (x right, y down); a ball of radius r has mass r^2 (discs of one density); velocities in
box sides per frame. Each frame integrates ``substeps`` sub-steps; in each, overlapping pairs that approach each
other exchange momentum along the line of centres, and balls past a wall that move outward are reflected, so
kinetic energy and (away from walls) momentum are conserved. Deterministic in ``seed``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from openjepa.data.object_slots import mask_pooled_slots
from openjepa.data.registry import DATASETS
from openjepa.data.scenes import SceneData, SceneSet

RADIUS = (0.07, 0.11)  # fraction of the side
SPEED = (0.02, 0.05)  # sides per frame
PALETTE = np.array([[230, 60, 60], [60, 200, 80], [70, 110, 240], [240, 200, 40], [200, 80, 220], [40, 210, 220]],
                   np.uint8)


@dataclass
class BallScenes:
    """``states`` float32 ``(S, T, N, 4)``: x, y, vx, vy of each ball at each frame; ``radii`` ``(S, N)``;
    ``colours`` uint8 ``(S, N, 3)``; ``collided`` bool ``(S, T, N)``: ball n hit a ball or a wall while moving
    from frame t - 1 to frame t (always False at t = 0)."""

    states: np.ndarray
    radii: np.ndarray
    colours: np.ndarray
    collided: np.ndarray

    def __len__(self) -> int:
        return len(self.states)


def simulate(pos: np.ndarray, vel: np.ndarray, radii: np.ndarray, frames: int,
             substeps: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Scenes of balls at ``pos``, ``vel`` ``(S, N, 2)`` with ``radii (S, N)`` for ``frames`` frames: states
    ``(S, frames, N, 4)`` (frame 0 the start) and ``collided (S, frames, N)``."""
    pos, vel = pos.astype(np.float64).copy(), vel.astype(np.float64).copy()
    radii = radii.astype(np.float64)
    mass = radii ** 2
    S, n = radii.shape
    states = np.zeros((S, frames, n, 4), np.float32)
    collided = np.zeros((S, frames, n), bool)
    states[:, 0] = np.concatenate([pos, vel], -1)
    for t in range(1, frames):
        for _ in range(substeps):
            pos += vel / substeps
            hit = np.zeros((S, n), bool)
            for i, j in zip(*np.triu_indices(n, 1)):
                offset = pos[:, j] - pos[:, i]  # (S, 2)
                dist = np.linalg.norm(offset, axis=1)
                normal = offset / np.maximum(dist, 1e-9)[:, None]
                closing = ((vel[:, i] - vel[:, j]) * normal).sum(1)  # > 0: approaching
                bounce = (dist < radii[:, i] + radii[:, j]) & (closing > 0)
                impulse = np.where(bounce, 2 * closing / (mass[:, i] + mass[:, j]), 0.0)[:, None] * normal
                vel[:, i] -= mass[:, j, None] * impulse
                vel[:, j] += mass[:, i, None] * impulse
                hit[:, i] |= bounce
                hit[:, j] |= bounce
            low, high = pos - radii[..., None] < 0, pos + radii[..., None] > 1
            wall = (low & (vel < 0)) | (high & (vel > 0))
            vel[wall] *= -1
            collided[:, t] |= hit | wall.any(-1)
        states[:, t] = np.concatenate([pos, vel], -1)
    return states, collided


def random_start(rng: np.random.Generator, balls: int, tries: int = 200) -> tuple[np.ndarray, ...]:
    """Non-overlapping balls inside the box: ``pos``, ``vel`` ``(balls, 2)``, ``radii (balls,)``."""
    radii = rng.uniform(*RADIUS, balls)
    pos = np.zeros((balls, 2))
    for i in range(balls):
        for _ in range(tries):
            pos[i] = rng.uniform(radii[i], 1 - radii[i], 2)
            if all(np.hypot(*(pos[i] - pos[j])) > radii[i] + radii[j] + 0.01 for j in range(i)):
                break
        else:
            raise ValueError(f"could not place {balls} balls without overlap in {tries} tries; use fewer balls")
    angle = rng.uniform(0, 2 * np.pi, balls)
    speed = rng.uniform(*SPEED, balls)
    return pos, np.c_[np.cos(angle), np.sin(angle)] * speed[:, None], radii


def make_ball_scenes(count: int, frames: int, balls: int = 4, seed: int = 0) -> BallScenes:
    """``count`` scenes of ``balls`` balls over ``frames`` frames; ball n of every scene has colour n, so colour
    tells identity."""
    if balls > len(PALETTE):
        raise ValueError(f"at most {len(PALETTE)} balls a scene (one colour each), got {balls}")
    rng = np.random.default_rng(seed)
    pos, vel, radii = (np.stack(parts) for parts in zip(*(random_start(rng, balls) for _ in range(count))))
    states, collided = simulate(pos, vel, radii, frames)
    colours = np.broadcast_to(PALETTE[:balls], (count, balls, 3)).copy()
    return BallScenes(states, radii.astype(np.float32), colours, collided)


def without_ball(scenes: BallScenes, index: int, ball: int) -> tuple[np.ndarray, np.ndarray]:
    """The counterfactual: scene ``index`` simulated again from its first frame without ``ball``: states
    ``(T, N - 1, 4)`` of the other balls (in order) and their ``collided``."""
    keep = np.arange(scenes.states.shape[2]) != ball
    start = scenes.states[index, 0, keep].astype(np.float64)
    states, collided = simulate(start[None, :, :2], start[None, :, 2:], scenes.radii[index, keep][None],
                                scenes.states.shape[1])
    return states[0], collided[0]


def render(states: np.ndarray, radii: np.ndarray, colours: np.ndarray, size: int,
           background: int = 24) -> tuple[np.ndarray, np.ndarray]:
    """Frames of scenes: ``states (..., T, N, 4)`` with ``radii (..., N)`` and ``colours (..., N, 3)`` -> uint8
    ``(..., T, 3, size, size)`` and the object maps uint8 ``(..., T, size, size)`` (0: background, n + 1: ball n; a
    pixel belongs to the ball whose centre is nearest, relative to its radius, among those covering it)."""
    centres = (np.arange(size, dtype=np.float32) + 0.5) / size
    x, y = states[..., 0, None, None], states[..., 1, None, None]  # (..., T, N, 1, 1)
    r = radii[..., None, :, None, None]
    dist = ((centres[None, :] - x) ** 2 + (centres[:, None] - y) ** 2) / r ** 2  # (..., T, N, size, size), squared
    inside = dist < 1
    nearest = np.where(inside, dist, np.inf).argmin(-3)
    objects = np.where(inside.any(-3), nearest + 1, 0).astype(np.uint8)
    frames = np.full((*objects.shape[:-2], 3, size, size), background, np.uint8)
    for ball in range(states.shape[-2]):
        shown = objects == ball + 1  # (..., T, size, size)
        colour = np.broadcast_to(colours[..., None, ball, :, None, None], frames.shape)
        frames = np.where(shown[..., None, :, :], colour, frames)
    return frames, objects


def scene_slots(scenes: BallScenes, size: int) -> np.ndarray:
    """Every scene rendered at ``size`` px and read by the mask-pooling slot encoder: ``(S, T, N, 8)``."""
    balls, chunk = scenes.states.shape[2], 64
    return np.concatenate([
        mask_pooled_slots(*render(scenes.states[s : s + chunk], scenes.radii[s : s + chunk],
                                  scenes.colours[s : s + chunk], size), balls)
        for s in range(0, len(scenes), chunk)])


def ball_scene_set(scenes: BallScenes, size: int, window: int) -> SceneSet:
    return SceneSet(torch.from_numpy(scene_slots(scenes, size)), torch.from_numpy(scenes.states),
                    torch.from_numpy(scenes.collided), scenes.radii, scenes.colours, window)


@DATASETS.register("balls", modality="objects")
def balls_dataset(cfg) -> SceneData:
    """The built-in ``balls``: ``cfg.scenes`` training and ``cfg.test_scenes`` test scenes (disjoint seeds) of
    ``cfg.balls`` balls over ``cfg.scene_frames`` frames, rendered at ``cfg.image_size`` px; samples are windows
    of ``cfg.window`` frames."""
    train = make_ball_scenes(cfg.scenes, cfg.scene_frames, cfg.balls, seed=1)
    test = make_ball_scenes(cfg.test_scenes, cfg.scene_frames, cfg.balls, seed=2)
    return SceneData("balls", ball_scene_set(train, cfg.image_size, cfg.window),
                     ball_scene_set(test, cfg.image_size, cfg.window))
