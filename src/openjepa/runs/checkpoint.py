"""Atomic checkpoints: ``RUN/checkpoints/step_XXXXXXXX/{model.safetensors, optimizer.pt, state.json}``.

A checkpoint is written into a temporary folder, renamed into place, and only
then named in ``RUN/checkpoints/latest``; a crash at any moment leaves the
previous checkpoint intact and ``latest`` pointing at a complete one.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from openjepa.core.errors import CheckpointError
from openjepa.runs.files import write_text_atomic


def save_checkpoint(run_dir: Path, step: int, model_state: dict[str, torch.Tensor], optimizer_state: dict,
                    state: dict[str, Any], keep: int = 2) -> Path:
    """Write checkpoint ``step`` and point ``latest`` at it; keep the newest ``keep`` checkpoints."""
    root = Path(run_dir) / "checkpoints"
    root.mkdir(parents=True, exist_ok=True)
    name = f"step_{step:08d}"
    final = root / name
    tmp = root / f".tmp-{name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    tensors, aliases = _without_aliases(model_state)
    save_file(tensors, tmp / "model.safetensors", metadata={"aliases": json.dumps(aliases)})
    torch.save(optimizer_state, tmp / "optimizer.pt")
    (tmp / "state.json").write_text(json.dumps({**state, "step": step}, indent=1))
    for f in tmp.iterdir():
        with open(f, "rb") as fh:
            os.fsync(fh.fileno())
    if final.exists():
        shutil.rmtree(final)
    os.rename(tmp, final)
    write_text_atomic(root / "latest", name + "\n")
    steps = sorted(p for p in root.glob("step_*") if p.is_dir())
    for old in steps[: max(0, len(steps) - keep)]:
        if old != final:
            shutil.rmtree(old, ignore_errors=True)
    return final


def _without_aliases(state: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """The tensors to write, one per storage (tied weights, e.g. a language model's input and output embeddings,
    are written once), and ``{name: name written}`` for the others."""
    tensors: dict[str, torch.Tensor] = {}
    aliases: dict[str, str] = {}
    seen: dict[tuple, str] = {}
    for name, value in state.items():
        key = (value.device, value.data_ptr(), tuple(value.shape), value.stride(), value.dtype)
        if value.numel() and key in seen:
            aliases[name] = seen[key]
            continue
        seen[key] = name
        tensors[name] = value.detach().contiguous().cpu()
    return tensors, aliases


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The folder ``latest`` names, or None when the run has no checkpoint yet."""
    pointer = Path(run_dir) / "checkpoints" / "latest"
    if not pointer.is_file():
        return None
    folder = pointer.parent / pointer.read_text().strip()
    if not folder.is_dir():
        raise CheckpointError(f"{pointer} names {folder.name}, which does not exist")
    return folder


def load_checkpoint(folder: Path, with_optimizer: bool = True) -> tuple[dict[str, torch.Tensor], dict | None, dict]:
    """``(model_state, optimizer_state or None, state)`` of a checkpoint folder."""
    try:
        model = load_file(folder / "model.safetensors")
        with safe_open(folder / "model.safetensors", "pt") as f:
            aliases = json.loads((f.metadata() or {}).get("aliases", "{}"))
        model.update({name: model[written] for name, written in aliases.items()})
        state = json.loads((folder / "state.json").read_text())
        optimizer = (torch.load(folder / "optimizer.pt", map_location="cpu", weights_only=True) if with_optimizer
                     else None)
    except (OSError, ValueError, RuntimeError, SafetensorError) as err:
        raise CheckpointError(f"cannot read checkpoint {folder}: {err}") from None
    return model, optimizer, state
