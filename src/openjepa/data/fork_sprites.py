"""Sprites at a fork: a built-in video dataset whose future is genuinely multi-modal.

A small sprite (circle, square, triangle or cross) glides over a textured background with 0-2 static distractors
toward a fork near the frame's centre, which it reaches at the last frame of the clip's first half. There it turns
into one of the three ways that do not lead back (of east, north, west and south), drawn uniformly and independently
of everything the first half shows. A predictor that sees the first half cannot know which way the sprite went:
without a latent variable the best it can do is the average of the three futures, which matches none of them.

``make_fork_sprites(..., exits=...)`` renders the same scenes with the exits given, so the futures a clip could
have had can be compared with the one it had. Deterministic in ``seed``; train and test use disjoint seeds.
"""

from __future__ import annotations

import numpy as np
import torch

from openjepa.data.clips import VideoData
from openjepa.data.registry import DATASETS
from openjepa.data.sprites import (
    MARGIN,
    ROTATION,
    SHAPES,
    VideoSet,
    _balanced,
    _box,
    _check,
    _colours,
    _distractors,
    _render,
    _templates,
    _texture,
    _velocity,
)

WAYS = ["E", "N", "W", "S"]  # unit steps (dx, dy) below; y points down
_STEP = np.array([[1.0, 0.0], [0.0, -1.0], [-1.0, 0.0], [0.0, 1.0]])
RADIUS = (0.08, 0.11)  # sprite radius, fraction of the side: small, so that the ways part within a tubelet
SPEED = 0.08  # fraction of the side a frame: 2.6 px at 32 px
JITTER = 0.06  # the fork's offset from the centre on each axis, at most, fraction of the side


def _exits(rng: np.random.Generator, entry: np.ndarray) -> np.ndarray:
    """``(N,)`` exits uniform over the three ways other than back where each sprite came from."""
    turn = rng.integers(0, 3, len(entry))  # straight on, a quarter turn one way or the other
    return (entry + np.array([0, 1, 3])[turn]) % 4


def make_fork_sprites(n: int, seed: int, frames: int = 8, size: int = 32,
                      exits: np.ndarray | None = None) -> VideoSet:
    """``n`` clips ``(3, frames, size, size)``: the sprite enters along ``entry`` (the way it moves) and reaches
    the fork at frame ``frames // 2 - 1``; then it leaves along ``exit``. ``exits (n,)``: the exits to render
    instead of the drawn ones (the scenes stay those of ``seed``); one may not lead back the way the sprite came.

    Labels: ``exit`` (primary), ``entry`` (way indices into ``WAYS``) and ``shape``."""
    _check(n, frames, size, min_frames=4)
    rng = np.random.default_rng(seed)
    shape, entry = _balanced(rng, n, len(SHAPES)), _balanced(rng, n, len(WAYS))
    drawn = _exits(rng, entry)
    if exits is not None:
        exits = np.asarray(exits, dtype=np.int64)
        if exits.shape != (n,) or not np.isin(exits, np.arange(4)).all() or ((exits - entry) % 4 == 2).any():
            raise ValueError(f"exits must be ({n},) ways in 0..3, none back the way its sprite came")
        drawn = exits
    ground = rng.uniform(0, 1, (n, 3))
    colour = _colours(rng, [ground])
    templates, _ = _templates([SHAPES[s] for s in shape], rng.uniform(*RADIUS, n) * size,
                              rng.uniform(-ROTATION, ROTATION, n), _box(size))
    canvas = _distractors(rng, _texture(rng, ground, size), [ground, colour])
    fork = size / 2 + rng.uniform(-JITTER, JITTER, (n, 2)) * size
    at = frames // 2 - 1  # the frame at the fork
    t = np.arange(frames)[None, :, None]
    speed = SPEED * size
    before = fork[:, None] + _STEP[entry][:, None] * speed * np.minimum(t - at, 0)
    positions = before + _STEP[drawn][:, None] * speed * np.maximum(t - at, 0)  # (n, frames, 2)
    low, high = MARGIN + RADIUS[1] * size, size - MARGIN - RADIUS[1] * size
    positions = positions.clip(low, high)
    clips, masks = _render(canvas, colour, templates, positions, np.ones((n, frames), bool))
    labels = {"exit": drawn, "entry": entry, "shape": shape}
    return VideoSet(clips, {k: torch.from_numpy(np.asarray(v, dtype=np.int64)) for k, v in labels.items()},
                    {"exit": WAYS, "entry": WAYS, "shape": SHAPES}, masks, _velocity(positions), primary="exit")


TRAIN_SEED, TEST_SEED = 11, 12


def load_fork_sprites(train_size: int = 6000, test_size: int = 1000, frames: int = 8, size: int = 32) -> VideoData:
    """The built-in ``fork_sprites`` set."""
    return VideoData("fork_sprites", make_fork_sprites(train_size, seed=TRAIN_SEED, frames=frames, size=size),
                     make_fork_sprites(test_size, seed=TEST_SEED, frames=frames, size=size))


def other_futures(test: VideoSet) -> list[VideoSet]:
    """The two futures each clip of the built-in test split could have had instead: the same scenes, the sprite
    leaving by the other two ways that do not lead back (first the next way counter-clockwise from the taken one
    that is possible, then the other)."""
    n, _, frames, size, _ = test.clips.shape
    entry, taken = test.labels["entry"].numpy(), test.labels["exit"].numpy()
    possible = (entry[:, None] + np.array([0, 1, 3])) % 4  # (n, 3)
    others = np.stack([row[row != t] for row, t in zip(possible, taken)])  # (n, 2)
    return [make_fork_sprites(n, seed=TEST_SEED, frames=frames, size=size, exits=others[:, k]) for k in range(2)]


def _fork_dataset(cfg) -> VideoData:
    """``fork_sprites`` at the clip length, frame size (default 32) and training size a video data config asks for."""
    sizes = {} if cfg.train_size is None else {"train_size": cfg.train_size}
    return load_fork_sprites(frames=cfg.frames, size=cfg.image_size or 32, **sizes)


DATASETS.register("fork_sprites", modality="video")(_fork_dataset)
