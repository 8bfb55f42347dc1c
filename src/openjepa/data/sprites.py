"""Procedural sprites: a built-in video dataset that needs no download.

One sprite (circle, square, triangle or cross) glides at constant speed over a static
textured background with 0-2 static distractor shapes, in one of 8 directions at one of
2 speeds, and bounces elastically off the frame's borders. About a third of the clips put it
in a corridor of two walls that it bounces off too. The sprite starts anywhere in the frame,
whatever its direction and speed, so the first frame says nothing about the motion:
``direction`` (at the first frame) and ``speed`` can only be read from how frames change.
It covers 0.3 (slow) or 0.6 (fast) of the side per clip, 1.4 or 2.7 px a frame at 32 px and
8 frames, so it crosses patches and its path must be extrapolated to predict where it will be.
``noise`` adds camera noise to every pixel of every frame (``sprites_noisy``), which leaves a random linear map of
a tubelet's pixels, such as an untrained tokenizer, little of the motion.
``pan`` moves the camera too (``sprites_pan``, as FlyingChairs moves its backgrounds): a finer-textured background
with its distractors glides by a whole number of pixels a frame, up to ``pan`` on each axis, drawn per clip, while
the sprite moves on the screen as before; the true optical flow is then known at every pixel
(:meth:`VideoSet.true_flow`).
Clips come with per-frame sprite masks and velocities; ``make_physics_quads`` builds matched
possible/impossible quadruplets for intuitive-physics tests.
Deterministic in ``seed``; train and test use disjoint seeds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw

from openjepa.data.augment import Symmetry, symmetries
from openjepa.data.clips import VideoData
from openjepa.data.registry import DATASETS
from openjepa.data.shapes import _OUTLINES, ROTATION, _polygon

SHAPES = ["circle", "square", "triangle", "cross"]
DIRECTIONS = ["E", "NE", "N", "NW", "W", "SW", "S", "SE"]  # counter-clockwise from east; north is up (-y)
SPEEDS = ["slow", "fast"]
WALLS = ["none", "vertical", "horizontal"]
BOUNCES = ["no", "yes"]
VIOLATIONS = ["vanish", "teleport", "wall"]
DISTRACTORS = ["star", "ell", "arrow", "hourglass"]

RADIUS = (0.14, 0.2)  # sprite radius, fraction of the side
DISTRACTOR_RADIUS = (0.09, 0.13)
TRAVEL = (0.3, 0.6)  # path length over a clip per speed class, fraction of the side
GAP = (0.05, 1.0)  # first-frame gap between the sprite and each wall, fraction of the room on that side
WALL_WIDTH = 0.12  # fraction of the side
MARGIN = 1.0  # pixels always left between the sprite and the frame's border
CONTRAST = 0.4  # least RGB distance between the background, walls, sprite and distractors
TEXTURE = ((4, 0.05), (8, 0.03))  # background noise: grid cells and std, upsampled smoothly
NOISE = 0.15  # ``sprites_noisy``: std of the camera noise drawn afresh for every pixel of every frame (range 0-1)
PAN = 2  # ``sprites_pan``: the most the background moves a frame on each axis, in pixels
PAN_TEXTURE = TEXTURE + ((16, 0.04),)  # a finer background there, so that its motion shows between frames
_FINE = 8  # supersampling of the sprite templates
_CHUNK = 256


@dataclass
class VideoSet:
    """One split of clips.

    ``clips`` uint8 ``(N, C, T, H, W)``; ``labels`` name -> int64 ``(N,)``, with class names in
    ``classes``; ``masks`` bool ``(N, T, H, W)``: sprite occupancy; ``velocity`` float ``(N, T, 2)``:
    the sprite's displacement (dx, dy) in pixels from frame t to t+1 (the last frame repeats
    the one before); ``primary``: the label ``__getitem__`` returns; ``camera`` float ``(N, 2)``: the
    background's displacement (dx, dy) in pixels per frame, None where it stands still.
    """

    clips: torch.Tensor
    labels: dict[str, torch.Tensor]
    classes: dict[str, list[str]]
    masks: torch.Tensor
    velocity: torch.Tensor
    primary: str = "direction"
    camera: torch.Tensor | None = None

    def __post_init__(self) -> None:
        if self.clips.ndim != 5 or self.clips.dtype != torch.uint8:
            raise ValueError(f"clips must be uint8 (N, C, T, H, W), got {self.clips.dtype} {tuple(self.clips.shape)}")
        n, c, t, h, w = self.clips.shape
        if c not in (1, 3):
            raise ValueError(f"clips must have 1 or 3 channels, got {c}")
        if self.masks.dtype != torch.bool or self.masks.shape != (n, t, h, w):
            raise ValueError(f"masks must be bool {(n, t, h, w)}, got {self.masks.dtype} {tuple(self.masks.shape)}")
        if not self.velocity.is_floating_point() or self.velocity.shape != (n, t, 2):
            raise ValueError(f"velocity must be float {(n, t, 2)}, got {self.velocity.dtype} "
                             f"{tuple(self.velocity.shape)}")
        if self.camera is not None and (not self.camera.is_floating_point() or self.camera.shape != (n, 2)):
            raise ValueError(f"camera must be float {(n, 2)}, got {self.camera.dtype} {tuple(self.camera.shape)}")
        if set(self.labels) != set(self.classes):
            raise ValueError(f"labels {sorted(self.labels)} and classes {sorted(self.classes)} name different labels")
        if self.primary not in self.labels:
            raise ValueError(f"primary label '{self.primary}' is not one of {sorted(self.labels)}")
        for name, y in self.labels.items():
            if y.dtype != torch.long or y.shape != (n,):
                raise ValueError(f"label '{name}' must be int64 ({n},), got {y.dtype} {tuple(y.shape)}")
            if n and not 0 <= int(y.min()) <= int(y.max()) < len(self.classes[name]):
                raise ValueError(f"label '{name}' has values outside 0..{len(self.classes[name]) - 1}")

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.clips[index], int(self.labels[self.primary][index])

    def flipped_labels(self, name: str, symmetry: Symmetry) -> torch.Tensor:
        """Label ``name`` ``(N,)`` of the clips under ``augment.flipped(clips, symmetry)``: a direction turns with
        the clip, a corridor's orientation swaps under a transpose; shape, speed and bounce stay."""
        y = self.labels[name]
        if name == "direction":
            return _DIRECTION_UNDER[symmetry][y]
        if name == "wall" and symmetry[2]:
            return torch.tensor([0, 2, 1])[y]
        return y

    def true_flow(self) -> torch.Tensor:
        """The motion from each frame to the next, ``(N, T - 1, 2, H, W)`` in pixels: the sprite's displacement
        inside its mask, the background's (``camera``, zero when None) elsewhere."""
        inside = self.masks[:, :-1, None].float()
        flow = inside * self.velocity[:, :-1, :, None, None]
        return flow if self.camera is None else flow + (1 - inside) * self.camera[:, None, :, None, None]

    def subset(self, index: np.ndarray | torch.Tensor) -> VideoSet:
        index = torch.as_tensor(index, dtype=torch.long)
        return VideoSet(self.clips[index], {k: y[index] for k, y in self.labels.items()}, self.classes,
                        self.masks[index], self.velocity[index], self.primary,
                        None if self.camera is None else self.camera[index])


def _direction_under(symmetry: Symmetry) -> torch.Tensor:
    """Direction index (DIRECTIONS, 45 degrees apart) -> its index after mirroring left-right (angle a -> 180 - a),
    then up-down (a -> -a), then transposing (a -> 270 - a), as chosen by ``symmetry``."""
    k = torch.arange(8)
    for applied, offset in zip(symmetry, (4, 0, 6)):
        k = (offset - k) % 8 if applied else k
    return k


_DIRECTION_UNDER = {s: _direction_under(s) for s in symmetries("dihedral")}


def _check(n: int, frames: int, size: int, min_frames: int = 2) -> None:
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    if frames < min_frames:
        raise ValueError(f"frames must be at least {min_frames}, got {frames}")
    if size < 16:
        raise ValueError(f"size must be at least 16 pixels, got {size}")


def _balanced(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    """``(n,)`` labels in 0..k-1, as equal in count as ``n`` allows, in random order."""
    return rng.permutation(np.arange(n) % k)


def _colours(rng: np.random.Generator, avoid: list[np.ndarray], tries: int = 32) -> np.ndarray:
    """``(N, 3)`` colours in [0, 1], each at least CONTRAST from the matching row of every ``(N, 3)`` in ``avoid``."""
    n = len(avoid[0])
    candidates = rng.uniform(0, 1, (n, tries, 3))
    distance = np.min([np.linalg.norm(candidates - a[:, None], axis=-1) for a in avoid], axis=0)
    ok = distance > CONTRAST
    pick = np.where(ok.any(1), ok.argmax(1), distance.argmax(1))
    return candidates[np.arange(n), pick]


def _box(size: int) -> int:
    """Side of the square that holds any sprite template."""
    return math.ceil(2.2 * RADIUS[1] * size) + 2


def _template(name: str, radius: float, angle: float, box: int) -> tuple[np.ndarray, np.ndarray]:
    """Coverage ``(box, box)`` in [0, 1] of a shape, its bounding box centred, and its half-extent (x, y)."""
    canvas = Image.new("L", (box * _FINE, box * _FINE), 0)
    draw, centre = ImageDraw.Draw(canvas), box * _FINE / 2
    if name == "circle":
        half = np.full(2, 0.9 * radius)
        r = 0.9 * radius * _FINE
        draw.ellipse([centre - r, centre - r, centre + r, centre + r], fill=255)
    else:
        points = np.array(_polygon(_OUTLINES[name], angle, radius, 0.0, 0.0))
        low, high = points.min(0), points.max(0)
        half = (high - low) / 2
        draw.polygon([tuple(p) for p in centre + _FINE * (points - (low + high) / 2)], fill=255)
    cover = np.asarray(canvas, dtype=np.float32).reshape(box, _FINE, box, _FINE).mean((1, 3)) / 255
    return cover, half


def _templates(names: list[str], radius: np.ndarray, angle: np.ndarray, box: int) -> tuple[torch.Tensor, np.ndarray]:
    """Templates ``(M, box, box)`` and half-extents ``(M, 2)`` of M shapes."""
    drawn = [_template(*args, box) for args in zip(names, radius, angle)]
    return torch.from_numpy(np.stack([c for c, _ in drawn])), np.stack([h for _, h in drawn])


def _place(templates: torch.Tensor, corner: np.ndarray, size: int) -> torch.Tensor:
    """Coverage ``(M, T, size, size)`` of templates ``(M, B, B)`` with top-left corners at ``corner (M, T, 2)`` (x, y).

    Sub-pixel shifts resample the template with a box filter, so motion is smooth.
    """
    m, t = corner.shape[:2]
    b = templates.shape[-1]
    whole = np.floor(corner).astype(np.int64)
    frac = torch.from_numpy(corner - whole).float()
    fx, fy = frac[..., 0, None, None], frac[..., 1, None, None]
    padded = F.pad(templates, (1, 1, 1, 1))[:, None]
    across = (1 - fx) * padded[..., 1:] + fx * padded[..., :-1]
    local = (1 - fy) * across[..., 1:, :] + fy * across[..., :-1, :]  # (M, T, B + 1, B + 1)
    pad = b + 2
    canvas = torch.zeros(m * t, size + 2 * pad, size + 2 * pad)
    whole = torch.from_numpy(whole).reshape(m * t, 2) + pad
    span = torch.arange(b + 1)
    rows, cols = (whole[:, 1, None] + span)[:, :, None], (whole[:, 0, None] + span)[:, None, :]
    canvas[torch.arange(m * t)[:, None, None], rows, cols] = local.reshape(m * t, b + 1, b + 1)
    return canvas[:, pad : pad + size, pad : pad + size].reshape(m, t, size, size)


def _texture(rng: np.random.Generator, ground: np.ndarray, size: int,
             levels: tuple[tuple[int, float], ...] = TEXTURE) -> torch.Tensor:
    """``(N, 3, size, size)`` backgrounds in [0, 1]: a colour per clip plus smooth noise, ``levels`` of (grid
    cells, std)."""
    out = torch.from_numpy(ground).float()[:, :, None, None].expand(-1, -1, size, size)
    for cells, std in levels:
        noise = torch.from_numpy(rng.normal(0, std, (len(ground), 3, cells, cells)).astype(np.float32))
        out = out + F.interpolate(noise, size=(size, size), mode="bilinear", align_corners=True)
    return out.clamp(0, 1)


def _paint(canvas: torch.Tensor, colour: np.ndarray, cover: torch.Tensor) -> torch.Tensor:
    """``canvas (N, 3, H, W)`` with ``colour (N, 3)`` laid over it where ``cover (N, H, W)`` says."""
    paint = torch.from_numpy(colour).float()[:, :, None, None]
    return canvas * (1 - cover[:, None]) + paint * cover[:, None]


def _distractors(rng: np.random.Generator, canvas: torch.Tensor, avoid: list[np.ndarray],
                 frame: int | None = None) -> torch.Tensor:
    """``canvas (N, 3, S, S)`` with 0-2 static shapes drawn anywhere on each, in colours far from ``avoid``, sized
    for frames of side ``frame`` (default S)."""
    n, size = len(canvas), canvas.shape[-1]
    frame = frame or size
    count = rng.integers(0, 3, n)
    for slot in range(2):
        idx = np.flatnonzero(count > slot)
        if not len(idx):
            break
        names = [DISTRACTORS[k] for k in rng.integers(0, len(DISTRACTORS), len(idx))]
        templates, half = _templates(names, rng.uniform(*DISTRACTOR_RADIUS, len(idx)) * frame,
                                     rng.uniform(-math.pi, math.pi, len(idx)), _box(frame))
        corner = rng.uniform(half, size - half) - templates.shape[-1] / 2
        colour = _colours(rng, [a[idx] for a in avoid])
        canvas[idx] = _paint(canvas[idx], colour, _place(templates, corner[:, None], size)[:, 0])
    return canvas


def _walls(canvas: torch.Tensor, colour: np.ndarray, axis: np.ndarray, start: np.ndarray, half: np.ndarray,
           gaps: np.ndarray) -> torch.Tensor:
    """``canvas`` with a bar across the frame ``gaps (N, 2)`` before and after the sprite along ``axis`` (inf: none)."""
    n, size = len(canvas), canvas.shape[-1]
    rows = np.arange(n)
    near = start[rows, axis] - half[rows, axis] - gaps[:, 0]
    far = start[rows, axis] + half[rows, axis] + gaps[:, 1]
    width = WALL_WIDTH * size
    pixel = np.arange(size)
    cover = np.zeros((n, size))
    for low, high in ((near - width, near), (far, far + width)):
        cover += np.clip(np.minimum(high[:, None], pixel + 1) - np.maximum(low[:, None], pixel), 0, 1)
    cover = torch.from_numpy(np.minimum(cover, 1)).float()
    cover = torch.where(torch.from_numpy(axis == 0)[:, None, None], cover[:, None, :], cover[:, :, None])
    return _paint(canvas, colour, cover)


def _scenes(rng: np.random.Generator, shape: np.ndarray, size: int,
            pan_room: int = 0) -> tuple[torch.Tensor, np.ndarray, np.ndarray, torch.Tensor, np.ndarray]:
    """The static parts of N clips: backgrounds ``(N, 3, S + pan_room, S + pan_room)`` with distractors (finer
    ones when the camera pans over them), sprite and wall colours ``(N, 3)``, sprite templates ``(N, B, B)`` and
    half-extents ``(N, 2)``."""
    n = len(shape)
    ground = rng.uniform(0, 1, (n, 3))
    wall_colour = _colours(rng, [ground])
    colour = _colours(rng, [ground, wall_colour])
    templates, half = _templates([SHAPES[s] for s in shape], rng.uniform(*RADIUS, n) * size,
                                 rng.uniform(-ROTATION, ROTATION, n), _box(size))
    if pan_room:
        side = size + pan_room
        levels = tuple((round(cells * side / size), std) for cells, std in PAN_TEXTURE)
        canvas = _distractors(rng, _texture(rng, ground, side, levels), [ground, colour], frame=size)
    else:
        canvas = _distractors(rng, _texture(rng, ground, size), [ground, colour])
    return canvas, colour, wall_colour, templates, half


def _room(half: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """``(N, 2)`` least and greatest sprite centres (x, y) that keep the sprite inside the frame."""
    return half + MARGIN, size - half - MARGIN


def _steps(direction: np.ndarray, speed: np.ndarray, frames: int, size: int) -> np.ndarray:
    """``(N, 2)`` displacement (dx, dy) per frame; y points down."""
    angle = direction * math.pi / 4
    unit = np.round(np.stack([np.cos(angle), -np.sin(angle)], 1), 12)
    return unit * (np.asarray(TRAVEL)[speed] * size / (frames - 1))[:, None]


def _trajectories(start: np.ndarray, step: np.ndarray, frames: int, low: np.ndarray,
                  high: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sprite centres ``(N, T, 2)`` from ``start (N, 2)`` at ``step (N, 2)`` a frame, reflected elastically
    off the bounds ``low``/``high (N, 2)`` on each axis, and whether each bounced ``(N,)``."""
    straight = start[:, None] + np.arange(frames)[None, :, None] * step[:, None]
    span = (high - low)[:, None]
    along = np.mod(straight - low[:, None], 2 * span)
    positions = low[:, None] + np.where(along > span, 2 * span - along, along)
    return positions, np.abs(positions - straight).max((1, 2)) > 1e-9


def _wall_room(start: np.ndarray, half: np.ndarray, axis: np.ndarray, size: int) -> np.ndarray:
    """``(N, 2)`` the most room a sprite at ``start (N, 2)`` can leave before and after it along ``axis`` with
    the walls still at least half inside the frame."""
    rows = np.arange(len(start))
    before = start[rows, axis] - half[rows, axis]
    return np.maximum(np.stack([before, size - 2 * half[rows, axis] - before], 1) - WALL_WIDTH * size / 2, 0)


def _corridor(low: np.ndarray, high: np.ndarray, axis: np.ndarray, start: np.ndarray,
              gaps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The bounds ``low``/``high (N, 2)`` narrowed along ``axis`` to walls ``gaps (N, 2)`` before and after
    ``start`` (inf: no wall)."""
    rows = np.arange(len(start))
    low, high = low.copy(), high.copy()
    low[rows, axis] = np.maximum(low[rows, axis], start[rows, axis] - gaps[:, 0])
    high[rows, axis] = np.minimum(high[rows, axis], start[rows, axis] + gaps[:, 1])
    return low, high


def _velocity(positions: np.ndarray, shown: np.ndarray | None = None) -> torch.Tensor:
    """``(N, T, 2)`` displacement to the next frame, 0 where the sprite is hidden in either (``shown (N, T)``);
    the last frame repeats the one before."""
    step = np.diff(positions, axis=1)
    if shown is not None:
        step = step * (shown[:, :-1] & shown[:, 1:])[..., None]
    return torch.from_numpy(np.concatenate([step, step[:, -1:]], 1)).float()


def _panned(canvas: torch.Tensor, camera: np.ndarray, frames: int, size: int) -> torch.Tensor:
    """Backgrounds ``(N, 3, T, S, S)`` cut from ``canvas (N, 3, L, L)`` by windows that move so that its content
    shifts by ``camera (N, 2)`` whole pixels (dx, dy) a frame; frame 0's window sits where every later one still
    fits (``L >= S + (T - 1) * 2 * max |camera|``)."""
    margin = (canvas.shape[-1] - size) // 2
    out = torch.empty(len(canvas), 3, frames, size, size)
    for t in range(frames):
        x0, y0 = (margin - t * camera).T
        for i in range(len(canvas)):
            out[i, :, t] = canvas[i, :, y0[i] : y0[i] + size, x0[i] : x0[i] + size]
    return out


def _render(canvas: torch.Tensor, colour: np.ndarray, templates: torch.Tensor, positions: np.ndarray,
            shown: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Clips uint8 ``(N, 3, T, S, S)`` and masks ``(N, T, S, S)``: sprites at ``positions (N, T, 2)`` if ``shown``,
    over a static ``canvas (N, 3, S, S)`` or one per frame ``(N, 3, T, S, S)``."""
    size, box = canvas.shape[-1], templates.shape[-1]
    paint = torch.from_numpy(colour).float()[:, :, None, None, None]
    clips, masks = [], []
    for i in range(0, len(canvas), _CHUNK):
        part = slice(i, i + _CHUNK)
        alpha = _place(templates[part], positions[part] - box / 2, size)
        alpha *= torch.from_numpy(shown[part]).float()[:, :, None, None]
        backdrop = canvas[part] if canvas.ndim == 5 else canvas[part, :, None]
        frames = backdrop * (1 - alpha[:, None]) + paint[part] * alpha[:, None]
        clips.append(frames.mul_(255).round_().to(torch.uint8))
        masks.append(alpha >= 0.5)
    return torch.cat(clips), torch.cat(masks)


def _classes() -> dict[str, list[str]]:
    return {"shape": SHAPES, "direction": DIRECTIONS, "speed": SPEEDS, "wall": WALLS, "bounce": BOUNCES}


def _labels(**labels: np.ndarray) -> dict[str, torch.Tensor]:
    return {k: torch.from_numpy(np.asarray(y, dtype=np.int64)) for k, y in labels.items()}


WALL_SHARES = {"none": None, "third": 6, "all": 2}  # balanced draws in 0..k-1; 0 and 1 get a corridor: 2 / k of clips


def _camera_noise(clips: torch.Tensor, std: float, seed: int) -> torch.Tensor:
    """uint8 ``clips (N, C, T, H, W)`` with Gaussian noise of ``std`` (fraction of the range) on every pixel of
    every frame, independent everywhere, clipped to the range; drawn from its own stream so the scenes stay
    those of the noiseless clips of the same ``seed``."""
    rng = np.random.default_rng([seed, 1])
    for i in range(0, len(clips), _CHUNK):
        part = clips[i : i + _CHUNK]
        noise = torch.from_numpy(rng.standard_normal(part.shape, dtype=np.float32)).mul_(std * 255)
        clips[i : i + _CHUNK] = noise.add_(part).round_().clamp_(0, 255).to(torch.uint8)
    return clips


def make_sprites(n: int, seed: int, frames: int = 8, size: int = 32, walls: str = "third",
                 noise: float = 0.0, pan: int = 0) -> VideoSet:
    """``n`` clips ``(3, frames, size, size)``; shape, direction and speed balanced; ``walls``: a third of the
    clips in a corridor (vertical and horizontal ones balanced), ``all`` or ``none``; ``noise``: std of
    per-pixel, per-frame camera noise (:func:`_camera_noise`), 0 for none; ``pan``: the most whole pixels the
    background moves a frame on each axis (drawn per clip, uniformly in -pan..pan; walls must be ``none``).

    Labels: ``shape``, ``direction`` (at the first frame), ``speed``, ``wall`` (none, or the
    orientation of the corridor's two bars) and ``bounce`` (whether the sprite hit a wall or a border).
    """
    _check(n, frames, size)
    rng = np.random.default_rng(seed)
    shape, direction, speed = _balanced(rng, n, len(SHAPES)), _balanced(rng, n, 8), _balanced(rng, n, 2)
    if walls not in WALL_SHARES:
        raise ValueError(f"walls must be one of {', '.join(WALL_SHARES)}, got {walls!r}")
    if not noise >= 0:
        raise ValueError(f"noise must be a std of at least 0, got {noise}")
    if pan < 0 or (pan and walls != "none"):
        raise ValueError(f"pan must be a whole number of pixels >= 0, and walls 'none' with it; got {pan}, {walls!r}")
    draws = WALL_SHARES[walls]
    wall = _balanced(rng, n, draws) if draws else np.full(n, 2)
    wall = np.where(wall < 2, wall + 1, 0)  # draws 0 and 1: a vertical or horizontal corridor, the rest none
    canvas, colour, wall_colour, templates, half = _scenes(rng, shape, size, 2 * pan * (frames - 1))
    low, high = _room(half, size)
    start = rng.uniform(low, high)
    axis = np.maximum(wall - 1, 0)
    gaps = np.where(wall[:, None] > 0, rng.uniform(*GAP, (n, 2)) * _wall_room(start, half, axis, size), np.inf)
    positions, bounce = _trajectories(start, _steps(direction, speed, frames, size), frames,
                                      *_corridor(low, high, axis, start, gaps))
    camera = None
    if pan:
        camera = rng.integers(-pan, pan + 1, (n, 2))
        canvas = _panned(canvas, camera, frames, size)
    else:
        canvas = _walls(canvas, wall_colour, axis, start, half, gaps)
    clips, masks = _render(canvas, colour, templates, positions, np.ones((n, frames), bool))
    if noise:
        clips = _camera_noise(clips, noise, seed)
    labels = _labels(shape=shape, direction=direction, speed=speed, wall=wall, bounce=bounce)
    return VideoSet(clips, labels, _classes(), masks, _velocity(positions),
                    camera=None if camera is None else torch.from_numpy(camera).float())


# the built-in sets: ``make_sprites`` options per name
SPRITE_SETS = {"sprites": {"walls": "third"}, "sprites_walls": {"walls": "all"}, "sprites_no_walls": {"walls": "none"},
               "sprites_noisy": {"walls": "none", "noise": NOISE}, "sprites_pan": {"walls": "none", "pan": PAN}}


def load_sprites(name: str = "sprites", train_size: int = 6000, test_size: int = 1000, frames: int = 8,
                 size: int = 32) -> VideoData:
    """A built-in sprite set by ``name`` (:data:`SPRITE_SETS`): ``sprites`` (a third of the clips in a corridor),
    ``sprites_walls`` (every clip), ``sprites_no_walls`` (none), ``sprites_noisy`` (none, with camera noise) or
    ``sprites_pan`` (none, the camera panning)."""
    if name not in SPRITE_SETS:
        raise ValueError(f"unknown sprite set {name!r}; built-in: {', '.join(SPRITE_SETS)}")
    train = make_sprites(train_size, seed=1, frames=frames, size=size, **SPRITE_SETS[name])
    test = make_sprites(test_size, seed=2, frames=frames, size=size, **SPRITE_SETS[name])
    return VideoData(name, train, test)


def _sprites_dataset(name: str, cfg) -> VideoData:
    """A built-in sprite set at the clip length, frame size (default 32) and training size a video data config asks
    for."""
    sizes = {} if cfg.train_size is None else {"train_size": cfg.train_size}
    return load_sprites(name, frames=cfg.frames, size=cfg.image_size or 32, **sizes)


for _name in SPRITE_SETS:
    DATASETS.register(_name, modality="video")(partial(_sprites_dataset, _name))


def _far_from(rng: np.random.Generator, here: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """``(N, 2)`` points in the quarter of the room ``low``/``high (N, 2)`` farthest from ``here`` on each axis."""
    toward = rng.uniform(0, 0.25, here.shape)
    frac = np.where(here > (low + high) / 2, toward, 1 - toward)
    return low + frac * (high - low)


def _walled_starts(rng: np.random.Generator, low: np.ndarray, high: np.ndarray, reach: np.ndarray,
                   ahead: np.ndarray, size: int) -> np.ndarray:
    """``(N,)`` starts along one axis between ``low`` and ``high`` that leave room for a sprite travelling
    ``reach`` toward a wall (``ahead``: toward greater coordinates) with the wall still inside the frame."""
    room = reach + WALL_WIDTH * size / 2 - MARGIN  # beyond the sprite's own room, from the border it heads for
    u = rng.uniform(0, 1, len(low))
    forward = low + u * np.maximum(high - room - low, 0)
    backward = high - u * np.maximum(high - low - room, 0)
    return np.where(ahead, forward, backward)


def _splice(first: np.ndarray, second: np.ndarray, cut: int) -> np.ndarray:
    """``first`` before time ``cut`` and ``second`` from there, along axis 1."""
    return np.concatenate([first[:, :cut], second[:, cut:]], 1)


def _interleave(x, y):
    """Rows of ``x`` and ``y`` (arrays or tensors of one length) alternated: x0, y0, x1, y1, ..."""
    if isinstance(x, torch.Tensor):
        return torch.stack([x, y], 1).flatten(0, 1)
    return np.stack([x, y], 1).reshape(-1, *x.shape[1:])


def _through(point: np.ndarray, step: np.ndarray, frames: int, at: int, low: np.ndarray,
             high: np.ndarray) -> np.ndarray:
    """Centres ``(N, frames, 2)`` of sprites moving at ``step (N, 2)`` that pass ``point (N, 2)`` at frame ``at``."""
    before = _trajectories(point, -step, at + 1, low, high)[0][:, ::-1]  # frames at .. 0, reversed
    return np.concatenate([before[:, :at], _trajectories(point, step, frames - at, low, high)[0]], 1)


def make_physics_quads(n: int, seed: int, frames: int = 8, size: int = 32) -> tuple[VideoSet, VideoSet, list[str]]:
    """``n`` intuitive-physics quadruplets: 2n possible clips, 2n impossible ones and the violation of each.

    Rows ``2i`` and ``2i + 1`` of each set are quadruplet i: possible clips A and B, impossible C and D.
    The impossible clips recombine the parts of the possible ones, so a score that reacts only to what
    the frames show (an empty frame is easy to predict) sums to the same over A + B as over C + D; only a
    model that expects what the first frames imply finds C + D more surprising. From frame
    ``frames // 2`` on (the cut):

    - ``vanish``: A moves on, B is the empty scene; C is A until the cut, then empty; D is empty, then A;
    - ``teleport``: A and B move far apart at the cut; C is A, then B; D is B, then A;
    - ``wall``: A bounces off a wall it reaches just before the cut, B passes the same place with no wall;
      C passes through A's wall, D bounces off nothing.

    The sprite is fast and bounces off the borders. Labels: ``shape`` and ``violation``.
    """
    _check(n, frames, size, min_frames=4)
    rng = np.random.default_rng(seed)
    kind, shape, direction = _balanced(rng, n, len(VIOLATIONS)), _balanced(rng, n, len(SHAPES)), _balanced(rng, n, 8)
    canvas, colour, wall_colour, templates, half = _scenes(rng, shape, size)
    low, high = _room(half, size)
    start = rng.uniform(low, high)
    step = _steps(direction, np.ones(n, np.int64), frames, size)
    cut, rows = frames // 2, np.arange(n)

    # a wall across the path along a moving axis, reached between frames cut - 1 and cut
    axis = np.where(step[:, 0] == 0, 1, np.where(step[:, 1] == 0, 0, rng.integers(0, 2, n)))
    contact = cut - rng.uniform(0.3, 0.9, n)
    toward = step[rows, axis]
    walled = kind == VIOLATIONS.index("wall")
    reach = contact * np.abs(toward)
    start[rows[walled], axis[walled]] = _walled_starts(rng, low[rows, axis], high[rows, axis], reach, toward > 0,
                                                       size)[walled]
    gaps = np.full((n, 2), np.inf)
    gaps[rows[walled], (toward > 0)[walled].astype(int)] = reach[walled]
    with_wall = _walls(canvas, wall_colour, axis, start, half, gaps)

    bouncing = _trajectories(start, step, frames, *_corridor(low, high, axis, start, gaps))[0]
    free = _trajectories(start, step, frames, low, high)[0]  # off the borders only
    teleport = kind == VIOLATIONS.index("teleport")
    elsewhere = free.copy()
    elsewhere[teleport] = _through(_far_from(rng, free[teleport, cut], low[teleport], high[teleport]),
                                   step[teleport], frames, cut, low[teleport], high[teleport])
    vanish = np.broadcast_to((kind == VIOLATIONS.index("vanish"))[:, None], (n, frames))
    late = np.arange(frames) >= cut
    every = np.ones((n, frames), bool)
    other = np.where(walled[:, None, None], free, elsewhere)  # the two paths agree before the cut where walled
    a, b = (with_wall, bouncing, every), (canvas, other, ~vanish)
    c = (with_wall, _splice(bouncing, other, cut), ~(vanish & late))
    d = (canvas, _splice(other, bouncing, cut), ~(vanish & ~late))

    labels = _labels(shape=np.repeat(shape, 2), violation=np.repeat(kind, 2))
    classes = {"shape": SHAPES, "violation": VIOLATIONS}
    sets = []
    for first, second in ((a, b), (c, d)):
        background, positions, shown = (_interleave(x, y) for x, y in zip(first, second))
        clips, masks = _render(background, np.repeat(colour, 2, 0), templates.repeat_interleave(2, 0), positions,
                               shown)
        sets.append(VideoSet(clips, labels, classes, masks, _velocity(positions, shown), primary="violation"))
    return sets[0], sets[1], [VIOLATIONS[k] for k in kind]

