"""Read safetensors weights from a folder: one ``model.safetensors`` or a sharded index."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from openjepa.core.errors import WeightsError


def read_safetensors_folder(folder: Path) -> dict[str, torch.Tensor]:
    single, index = folder / "model.safetensors", folder / "model.safetensors.index.json"
    try:
        if single.is_file():
            return load_file(single)
        if index.is_file():
            shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
            state: dict[str, torch.Tensor] = {}
            for shard in shards:
                state.update(load_file(folder / shard))
            return state
    except (OSError, ValueError, KeyError, RuntimeError, SafetensorError) as err:
        raise WeightsError(f"cannot read weights in {folder}: {err}") from None
    raise WeightsError(f"{folder} has no model.safetensors (or model.safetensors.index.json)")
