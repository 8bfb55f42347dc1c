"""Write the held-out check sets of the sound and point-cloud recipes as files, in the layouts users bring: data the
recipes were not tuned on.

  spoken_commands  ten other words (yes, no, up, down, left, right, on, off, stop, go) said by eSpeak NG in other
                   accent and voice pairings than the built-in spoken_words (New York, US and Caribbean English; the
                   built-in's test voice variants train here, some of its training variants test here), in room
                   echo and noise as the built-in; WAV files, PATH/train/<word>/*.wav and PATH/test/<word>/*.wav,
                   at 22.05 kHz (the recipes resample them).
  solids           eight other shapes (tetrahedron, octahedron, icosahedron, dodecahedron, annulus, L-bracket,
                   T-bar, star prism) with random stretch and rotation, written as meshes (.off, .ply, .stl) in
                   ModelNet's layout PATH/<class>/train/*.off ... (the recipes sample points on their surfaces).

  python benchmarks/heldout_senses.py /tmp/heldout        # writes /tmp/heldout/spoken_commands and /solids
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

WORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
ACCENTS = ("en-us-nyc", "en-us", "en-029")
TRAIN_VARIANTS = ("m5", "m6", "f3", "steph", "quincy", "belinda", "zac", "travis", "m2", "f4")
TEST_VARIANTS = ("m1", "f1", "Annie", "robert", "paul")
RATE = 22050


def spoken_commands(out: Path, repeats: int = 3) -> None:
    import soundfile

    from openjepa.data.spoken_words import make_spoken_words

    for split, variants, seed in (("train", TRAIN_VARIANTS, 10), ("test", TEST_VARIANTS, 11)):
        voices = [f"{a}+{v}" for a in ACCENTS for v in variants]
        clips = make_spoken_words(words=WORDS, voices=voices, repeats=repeats, seed=seed, sample_rate=RATE)
        for i, (wave, label) in enumerate(zip(clips.waves.numpy(), clips.labels.tolist())):
            folder = out / split / WORDS[label]
            folder.mkdir(parents=True, exist_ok=True)
            soundfile.write(folder / f"{i:05d}.wav", wave, RATE, subtype="PCM_16")
        print(f"{split}: {len(clips)} clips of {len(WORDS)} words in {len(voices)} voices")


def _prism(outline: np.ndarray, height: float, kernel: tuple[float, float] = (0.0, 0.0)):
    """A prism over a polygon ``outline (n, 2)`` (counter-clockwise) that every point of is seen from ``kernel``:
    caps as triangle fans around the kernel, sides as quads."""
    import trimesh

    n = len(outline)
    ring = np.concatenate([np.c_[outline, np.zeros(n)], np.c_[outline, np.full(n, height)]])
    hubs = np.array([[*kernel, 0.0], [*kernel, height]])
    vertices = np.concatenate([ring, hubs])
    faces = []
    for i in range(n):
        j = (i + 1) % n
        faces += [[2 * n, j, i], [2 * n + 1, n + i, n + j], [i, j, n + j], [i, n + j, n + i]]
    return trimesh.Trimesh(vertices, faces)


def _star(points: int = 5, inner: float = 0.45) -> np.ndarray:
    angles = np.arange(2 * points) * np.pi / points
    radius = np.where(np.arange(2 * points) % 2, inner, 1.0)
    return np.stack([radius * np.cos(angles), radius * np.sin(angles)], 1)


def _solid(name: str, rng: np.random.Generator):
    import trimesh

    if name == "tetrahedron":
        v = np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]], float)
        return trimesh.Trimesh(v, [[0, 1, 2], [0, 3, 1], [0, 2, 3], [1, 3, 2]]).convex_hull
    if name == "octahedron":
        return trimesh.Trimesh(np.concatenate([np.eye(3), -np.eye(3)])).convex_hull
    if name == "icosahedron":
        return trimesh.creation.icosahedron()
    if name == "dodecahedron":
        phi = (1 + 5**0.5) / 2
        cube = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], float)
        rest = [[0, s / phi, t * phi] for s in (-1, 1) for t in (-1, 1)]
        rest = np.array(rest + [[a[1], a[2], a[0]] for a in rest] + [[a[2], a[0], a[1]] for a in rest])
        return trimesh.Trimesh(np.concatenate([cube, rest])).convex_hull
    if name == "annulus":
        return trimesh.creation.annulus(r_min=rng.uniform(0.4, 0.7), r_max=1.0, height=rng.uniform(0.2, 0.6))
    if name == "l_bracket":
        t = rng.uniform(0.2, 0.4)
        return _prism(np.array([[0, 0], [1, 0], [1, t], [t, t], [t, 1], [0, 1]]), rng.uniform(0.3, 1.0),
                      (t / 2, t / 2))
    if name == "t_bar":
        t = rng.uniform(0.15, 0.3)
        return _prism(np.array([[-1, 1], [1, 1], [1, 1 - 2 * t], [t, 1 - 2 * t], [t, -1], [-t, -1], [-t, 1 - 2 * t],
                                [-1, 1 - 2 * t]]) * 0.5, rng.uniform(0.2, 0.6), (0.0, 0.5 - t / 2))
    if name == "star_prism":
        return _prism(_star(int(rng.integers(5, 7)), rng.uniform(0.35, 0.55)), rng.uniform(0.2, 0.6))
    raise ValueError(name)


SOLIDS = ("tetrahedron", "octahedron", "icosahedron", "dodecahedron", "annulus", "l_bracket", "t_bar", "star_prism")


def solids(out: Path, train: int = 80, test: int = 30, seed: int = 0) -> None:
    import trimesh

    rng = np.random.default_rng(seed)
    for name in SOLIDS:
        for split, count in (("train", train), ("test", test)):
            folder = out / name / split
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                mesh = _solid(name, rng)
                mesh.apply_scale(rng.uniform(0.7, 1.3, 3))
                mesh.apply_transform(trimesh.transformations.random_rotation_matrix(rng.random(3)))
                mesh.export(folder / f"{name}_{i:03d}{('.off', '.ply', '.stl')[i % 3]}")
    print(f"{len(SOLIDS)} shapes, {train} train / {test} test meshes each")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    spoken_commands(args.out / "spoken_commands")
    solids(args.out / "solids")


if __name__ == "__main__":
    main()
