"""Point-cloud files -> ``(P, 3)`` float32 clouds, centred and scaled to the unit sphere.

Meshes (``.ply``, ``.off``, ``.obj``, ``.stl``, read with ``trimesh``) are sampled to ``P`` points on their surface
(area-uniform, deterministic in ``seed``); a PLY or OBJ that holds only vertices is read as points. Point files:
``.xyz`` / ``.txt`` / ``.pts`` (whitespace- or comma-separated rows, the first 3 columns are x y z; one header row is
skipped), ``.npy`` (an ``(N, 3+)`` array), ``.npz`` (its ``points`` array, else its first). A cloud of another size
is subsampled (without replacement) or has points repeated to exactly ``P``. Every refusal is a one-line
:class:`~openjepa.core.errors.DataError` that names the file.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np

from openjepa.core.errors import DataError

MESH_SUFFIXES = frozenset({".ply", ".off", ".obj", ".stl"})
POINT_SUFFIXES = MESH_SUFFIXES | {".xyz", ".txt", ".pts", ".npy", ".npz"}


def read_points(path: str | Path, count: int = 1024, *, seed: int = 0, min_points: int = 1) -> np.ndarray:
    """One file -> float32 ``(count, 3)``: mean at the origin, farthest point at distance <= 1 (exactly 1 for a
    mesh). ``min_points``: refuse clouds with fewer points (e.g. the points one group needs)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in POINT_SUFFIXES:
        raise DataError(f"{path} is not a point-cloud file; readable suffixes: {', '.join(sorted(POINT_SUFFIXES))}")
    if not path.is_file():
        raise DataError(f"point file not found: {path}")
    try:
        if suffix in MESH_SUFFIXES:
            raw = _mesh_points(path, count, seed, min_points)
        elif suffix in (".npy", ".npz"):
            raw = _array_points(path, suffix)
        else:
            raw = _text_points(path)
    except DataError:
        raise
    except Exception as err:  # readers raise anything from ValueError to struct.error on a broken file
        raise DataError(f"cannot read point file {path}: {_one_line(err)}") from err
    return normalize_cloud(raw, count, seed=seed, min_points=min_points, name=str(path))


def normalize_cloud(raw: np.ndarray, count: int, *, seed: int = 0, min_points: int = 1,
                    name: str = "the cloud") -> np.ndarray:
    """``(M, 3)`` coordinates -> float32 ``(count, 3)``: checked (finite, at least ``min_points``, not all at one
    place), centred on their mean, scaled so the farthest point is at 1, then subsampled or repeated to
    ``count`` points (seeded)."""
    raw = np.asarray(raw, dtype=np.float64)
    if len(raw) == 0:
        raise DataError(f"{name} holds no points")
    bad = ~np.isfinite(raw).all(axis=1)
    if bad.any():
        raise DataError(f"{name} has NaN or infinite coordinates ({int(bad.sum())} of {len(raw)} points, first at "
                        f"row {int(np.flatnonzero(bad)[0])})")
    if len(raw) < min_points:
        raise DataError(f"{name} has only {len(raw)} points; at least {min_points} are needed (the points of one "
                        f"group)")
    centred = raw - raw.mean(axis=0)
    radius = float(np.sqrt((centred**2).sum(axis=1).max()))
    if radius <= 1e-9 * max(1.0, float(np.abs(raw).max())):
        raise DataError(f"all {len(raw)} points of {name} lie at one place {tuple(np.round(raw[0], 6).tolist())}; "
                        f"a cloud needs some extent")
    cloud = centred / radius
    if len(cloud) != count:
        rng = np.random.default_rng(seed)
        if len(cloud) > count:
            index = np.sort(rng.choice(len(cloud), count, replace=False))
        else:
            index = np.concatenate([np.arange(len(cloud)), rng.choice(len(cloud), count - len(cloud))])
        cloud = cloud[index]
    return cloud.astype(np.float32)


def _mesh_points(path: Path, count: int, seed: int, min_points: int) -> np.ndarray:
    """Surface samples of a mesh, or the vertices of a file without faces."""
    try:
        import trimesh
    except ModuleNotFoundError as err:
        raise DataError(f"reading {path.suffix} files needs trimesh: pip install trimesh") from err
    loaded = trimesh.load(path, process=False)
    parts = list(loaded.dump()) if isinstance(loaded, trimesh.Scene) else [loaded]
    vertices = [np.asarray(p.vertices, dtype=np.float64).reshape(-1, 3) for p in parts if hasattr(p, "vertices")]
    vertices = np.concatenate(vertices) if vertices else np.zeros((0, 3))
    meshes = [p for p in parts if isinstance(p, trimesh.Trimesh) and len(p.faces)]
    if np.isfinite(vertices).all() and meshes:
        mesh = meshes[0] if len(meshes) == 1 else trimesh.util.concatenate(meshes)
        if mesh.area > 0:
            return trimesh.sample.sample_surface(mesh, count, seed=seed)[0]
    if not len(vertices):
        raise DataError(f"cannot read point file {path}: no vertices found (empty, or not a {path.suffix} file)")
    if not meshes and len(vertices) < max(min_points, 2):
        raise DataError(f"{path} is a mesh without faces and has only {len(vertices)} vertices; a mesh needs faces "
                        f"(its surface is sampled) or at least {max(min_points, 2)} vertices to be read as points")
    return vertices


def _array_points(path: Path, suffix: str) -> np.ndarray:
    try:
        loaded = np.load(path, allow_pickle=False)
    except ValueError as err:  # not an .npy/.npz file: NumPy takes it for a pickle
        raise DataError(f"cannot read point file {path}: not a NumPy {suffix} file of numbers") from err
    if not hasattr(loaded, "files"):  # an .npy array (an .npz is an archive of named arrays)
        return _xyz_columns(np.asarray(loaded), path)
    with loaded as arrays:
        if not arrays.files:
            raise DataError(f"{path} holds no arrays; expected a 'points' array of shape (N, 3)")
        return _xyz_columns(arrays["points" if "points" in arrays.files else arrays.files[0]], path)


def _text_points(path: Path) -> np.ndarray:
    lines = path.read_text(encoding="utf-8").replace(",", " ").splitlines()
    first = next((i for i, line in enumerate(lines) if line.strip() and not line.lstrip().startswith(("#", "//"))),
                 None)
    if first is not None and not all(_is_number(v) for v in lines[first].split()):
        del lines[first]  # a header row: column names
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numpy warns on an empty file; "holds no points" says it better
        rows = np.loadtxt(io.StringIO("\n".join(lines)), ndmin=2, comments=("#", "//"))
    return _xyz_columns(rows, path)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _xyz_columns(array: np.ndarray, path: Path) -> np.ndarray:
    if array.size == 0:
        raise DataError(f"{path} holds no points")
    if array.ndim != 2 or array.shape[1] < 3 or not np.issubdtype(array.dtype, np.number):
        raise DataError(f"{path} holds a {array.dtype} array of shape {tuple(array.shape)}; expected (N, 3) "
                        f"coordinates (extra columns after x y z are ignored)")
    return array[:, :3].astype(np.float64)


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split()) or type(err).__name__
