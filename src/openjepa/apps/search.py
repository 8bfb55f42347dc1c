"""``openjepa search``: the files of a folder nearest to query files, by cosine similarity of mean-pooled features.

The folder's features are kept in ``FOLDER/.openjepa-cache/<key>.npz``, one index per model (``key`` hashes the
model folder's path and the encoding), holding the relative path, size and modification time of every file it
covers and the state of the model's files (a run's config and latest checkpoint, an HF folder's ``.json`` and
``.safetensors`` files). A search re-encodes the files that are new or changed, or all of them when the model's
files changed, and replaces the index atomically; in a folder it cannot write to, it searches without one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import zipfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from openjepa.api import embed, load
from openjepa.core.errors import ConfigError, DataError
from openjepa.data.cache import save_npz_atomic
from openjepa.modalities.registry import MODALITIES
from openjepa.nn.vit import ViT
from openjepa.runs.checkpoint import latest_checkpoint
from openjepa.runs.files import is_run

log = logging.getLogger("openjepa")
CACHE_DIR = ".openjepa-cache"
Stamp = tuple[str, int, int]  # (path, size, modification time in ns)


def search(model: str | Path, queries: list[str | Path], folder: str | Path, *, k: int = 5, per_step: bool = False,
           batch_size: int = 256) -> list[list[tuple[Path, float]]]:
    """For each query file, the ``k`` files of ``folder`` (and its subfolders, hidden ones left out) nearest to it,
    best first, as ``(path, cosine similarity)``: images for an image encoder, videos (the centred clip of each)
    for a video encoder; ``per_step`` encodes each time step of a clip on its own."""
    if k < 1:
        raise ConfigError(f"k must be at least 1, got {k}")
    model, folder = Path(model), Path(folder)
    vit = load(model)
    files = _listing(folder, vit)
    wanted = F.normalize(torch.from_numpy(embed(vit, queries, per_step=per_step, batch_size=batch_size)), dim=1)
    index = F.normalize(torch.from_numpy(_index(model, vit, folder, files, per_step, batch_size)), dim=1)
    if k > len(files):
        log.warning("%s holds %d files to search; listing all of them, not %d", folder, len(files), k)
    scores, picks = (wanted @ index.T).topk(min(k, len(files)), dim=1)
    return [[(folder / files[int(i)][0], float(s)) for s, i in zip(row, cols)] for row, cols in zip(scores, picks)]


def _listing(folder: Path, vit: ViT) -> list[Stamp]:
    """Stamps of the files in ``folder`` the encoder reads, sorted, paths relative to ``folder``."""
    if not folder.is_dir():
        raise DataError(f"folder to search not found: {folder}")
    suffixes = MODALITIES.get(vit.input_spec.modality).file_suffixes
    files = []
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if path.suffix.lower() in suffixes and path.is_file() and not any(p.startswith(".") for p in relative.parts):
            stat = path.stat()
            files.append((relative.as_posix(), stat.st_size, stat.st_mtime_ns))
    if not files:
        raise DataError(f"no {vit.input_spec.modality} files to search in {folder} (looked for "
                        f"{', '.join(sorted(suffixes))})")
    return files


def _model_stamps(model: Path) -> list[Stamp]:
    """Stamps of the files a model's features come from."""
    if is_run(model):
        paths = [model / "config.yaml", latest_checkpoint(model) / "model.safetensors"]
    else:
        paths = sorted(p for p in model.iterdir() if p.suffix in (".json", ".safetensors"))
    return [(str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns) for p in paths]


def _index(model: Path, vit: ViT, folder: Path, files: list[Stamp], per_step: bool, batch_size: int) -> np.ndarray:
    """Features ``(N, D)`` of ``files``: from the folder's index where it is current, else encoded and saved."""
    key = hashlib.sha256(json.dumps([str(model.resolve()), per_step]).encode()).hexdigest()[:16]
    path = folder / CACHE_DIR / f"{key}.npz"
    stamps = json.dumps(_model_stamps(model))
    cached = _read_index(path, stamps)
    if cached is not None and cached[0] == files:
        return cached[1]
    known = {stamp: row for row, stamp in enumerate(cached[0])} if cached is not None else {}
    todo = [stamp for stamp in files if stamp not in known]
    encoded = [embed(vit, [folder / name for name, _, _ in todo[i : i + batch_size]], per_step=per_step,
                     batch_size=batch_size) for i in range(0, len(todo), batch_size)]
    new = dict(zip(todo, np.concatenate(encoded))) if encoded else {}
    features = np.stack([new[stamp] if stamp in new else cached[1][known[stamp]] for stamp in files])
    _write_index(path, stamps, files, features)
    return features


def _read_index(path: Path, stamps: str) -> tuple[list[Stamp], np.ndarray] | None:
    """``(file stamps, features)`` of the index at ``path`` when it was made with the model's files as they are."""
    try:
        with np.load(path) as saved:
            if str(saved["model"]) != stamps:
                return None
            files = [(str(n), int(s), int(m)) for n, s, m in zip(saved["names"], saved["sizes"], saved["mtimes"])]
            return files, saved["features"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None


def _write_index(path: Path, stamps: str, files: list[Stamp], features: np.ndarray) -> None:
    """Save an index atomically; a warning when the folder is not writable."""
    names, sizes, mtimes = zip(*files)
    try:
        path.parent.mkdir(exist_ok=True)
        save_npz_atomic(path, model=np.array(stamps), names=np.array(names), sizes=np.array(sizes, dtype=np.int64),
                        mtimes=np.array(mtimes, dtype=np.int64), features=features.astype(np.float32))
    except OSError as err:
        log.warning("cannot keep the search index in %s (%s); searching without it", path.parent, err)
