"""The bouncing-balls simulator: elastic collisions conserve what they should, walls reflect, scenes are
deterministic, frames show each ball where its state says, and a scene without one ball is simulated again."""

import numpy as np
import pytest

from openjepa.data.bouncing_balls import BallScenes, make_ball_scenes, render, simulate, without_ball


def _one(pos, vel, radii, frames):
    states, collided = simulate(np.array([pos], float), np.array([vel], float), np.array([radii], float), frames)
    return states[0], collided[0]


def test_equal_balls_head_on_swap_velocities_and_conserve_momentum():
    states, collided = _one([[0.3, 0.5], [0.7, 0.5]], [[0.04, 0.0], [-0.02, 0.0]], [0.08, 0.08], 8)
    assert np.allclose(states[-1, :, 2:], [[-0.02, 0.0], [0.04, 0.0]], atol=1e-6)
    assert collided[1:].any(0).all() and not collided[0].any()
    momentum = states[:, :, 2].sum(1)
    assert np.allclose(momentum, momentum[0], atol=1e-6)


def test_a_heavy_ball_pushes_a_light_one_ahead_with_energy_kept():
    radii = np.array([0.12, 0.06])
    states, _ = _one([[0.3, 0.5], [0.55, 0.5]], [[0.03, 0.0], [0.0, 0.0]], radii, 6)
    mass = radii ** 2
    energy = (mass * (states[..., 2:] ** 2).sum(-1)).sum(-1)
    assert np.allclose(energy, energy[0], rtol=1e-5)
    # 1-D elastic collision: v_light = 2 m1 / (m1 + m2) v
    assert np.isclose(states[-1, 1, 2], 2 * mass[0] / mass.sum() * 0.03, rtol=1e-5)


def test_walls_reflect_and_scenes_are_deterministic():
    states, collided = _one([[0.9, 0.5]], [[0.05, 0.01]], [0.08], 4)
    assert states[-1, 0, 2] == pytest.approx(-0.05) and states[-1, 0, 3] == pytest.approx(0.01)
    assert collided[1:, 0].any()
    a, b, c = make_ball_scenes(20, 12, seed=3), make_ball_scenes(20, 12, seed=3), make_ball_scenes(20, 12, seed=4)
    assert np.array_equal(a.states, b.states) and not np.array_equal(a.states, c.states)
    assert isinstance(a, BallScenes) and len(a) == 20 and a.states.shape == (20, 12, 4, 4)
    inside = (a.states[..., :2] > 0) & (a.states[..., :2] < 1)
    assert inside.all()


def test_frames_show_each_ball_at_its_state_in_its_colour():
    scenes = make_ball_scenes(3, 5, balls=3, seed=0)
    frames, objects = render(scenes.states[1], scenes.radii[1], scenes.colours[1], 32)
    assert frames.shape == (5, 3, 32, 32) and objects.shape == (5, 32, 32)
    for t in range(5):
        for ball in range(3):
            ys, xs = np.nonzero(objects[t] == ball + 1)
            centre = (np.array([xs.mean(), ys.mean()]) + 0.5) / 32
            assert np.abs(centre - scenes.states[1, t, ball, :2]).max() < 0.05
            assert (frames[t, :, ys, xs] == scenes.colours[1, ball]).all()


def test_a_ball_that_never_meets_the_others_changes_nothing_when_removed():
    pos = np.array([[[0.2, 0.2], [0.5, 0.2], [0.85, 0.85]]])
    vel = np.array([[[0.02, 0.0], [-0.01, 0.0], [0.0, 0.0]]])
    radii = np.array([[0.08, 0.08, 0.08]])
    states, collided = simulate(pos, vel, radii, 10)
    scenes = BallScenes(states, radii, np.zeros((1, 3, 3), np.uint8), collided)
    kept, _ = without_ball(scenes, 0, 2)
    assert np.allclose(kept, states[0, :, :2], atol=1e-6)
    changed, _ = without_ball(scenes, 0, 1)  # ball 0 no longer meets ball 1
    assert np.abs(changed[-1, 0, 2] - states[0, -1, 0, 2]) > 0.01
