"""``RUN/data.json``: what a run was trained on, so that ``--resume`` on changed data stops and says what changed.

A folder (or file) is fingerprinted by its files' relative paths and sizes and the sha256 of each file's first and
last 64 KiB: a copy keeps the fingerprint, an added, removed, resized or rewritten file changes it, and a dataset of
many files is read in seconds. A built-in dataset is named by its name (it is generated the same way each time).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from openjepa.core.errors import TrainingError
from openjepa.runs.files import write_json_atomic

EDGE = 64 * 1024


def _files(root: Path) -> list[Path]:
    """Every file under ``root`` (or ``root`` itself), hidden files and folders (caches) left out."""
    if root.is_file():
        return [root]
    return sorted(p for p in root.rglob("*") if p.is_file()
                  and not any(part.startswith(".") for part in p.relative_to(root).parts))


def _edges(path: Path, size: int) -> bytes:
    with open(path, "rb") as f:
        head = f.read(EDGE)
        if size <= 2 * EDGE:
            return head + f.read()
        f.seek(size - EDGE)
        return head + f.read()


def data_fingerprint(dataset: str) -> dict:
    """``{"dataset", "kind": "builtin"|"files", "files", "bytes", "fingerprint"}`` of ``data.dataset``."""
    root = Path(dataset).expanduser()
    if not dataset or not root.exists():
        return {"dataset": dataset, "kind": "builtin", "fingerprint": hashlib.sha256(dataset.encode()).hexdigest()}
    digest, total = hashlib.sha256(), 0
    files = _files(root)
    for path in files:
        size = path.stat().st_size
        total += size
        name = path.name if path == root else str(path.relative_to(root))
        digest.update(f"{name}\0{size}\0".encode())
        digest.update(hashlib.sha256(_edges(path, size)).digest())
    return {"dataset": str(root.resolve()), "kind": "files", "files": len(files), "bytes": total,
            "fingerprint": digest.hexdigest()}


def record_data(run_dir: Path, dataset: str) -> None:
    """Write ``RUN/data.json`` for a run that starts on ``dataset``."""
    write_json_atomic(Path(run_dir) / "data.json", data_fingerprint(dataset))


def check_data_unchanged(run_dir: Path, dataset: str, *, allow_change: bool = False) -> dict | None:
    """Compare ``dataset`` with what ``RUN/data.json`` recorded; a difference stops a resume with one line saying
    what changed, unless ``allow_change``. Returns the new fingerprint when it differs (None when it matches or the
    run recorded none)."""
    path = Path(run_dir) / "data.json"
    if not path.is_file():
        return None
    then, now = json.loads(path.read_text()), data_fingerprint(dataset)
    if then.get("fingerprint") == now["fingerprint"]:
        return None
    if then.get("kind") == "files" and now["kind"] == "files":
        what = (f"{then['dataset']}: {then['files']} files, {then['bytes']} bytes then; {now['files']} files, "
                f"{now['bytes']} bytes now" if (then["files"], then["bytes"]) != (now["files"], now["bytes"])
                else f"{then['dataset']}: the same number and sizes of files, but their names or contents differ")
    else:
        what = f"trained on {then.get('dataset')!r}, now {dataset!r}"
    if not allow_change:
        raise TrainingError(f"the data changed since the run started ({what}); resuming would not give the numbers "
                            f"of an uninterrupted run. Pass --allow-data-change to go on anyway")
    return now
