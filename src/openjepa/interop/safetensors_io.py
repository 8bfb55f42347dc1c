"""Read an HF folder: its ``config.json``, and its safetensors weights (one ``model.safetensors`` or a sharded
index); weights that do not fit the config are a one-line :class:`WeightsError`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
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


def read_hf_config(folder: Path) -> dict | None:
    """``folder/config.json`` as a dict; None when there is none; a :class:`WeightsError` when it is not a JSON
    object."""
    path = Path(folder) / "config.json"
    if not path.is_file():
        return None
    try:
        config = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise WeightsError(f"{path} is not valid JSON ({err}); expected the config.json that save_pretrained "
                           f"writes") from None
    if not isinstance(config, dict):
        raise WeightsError(f"{path} is not a JSON object; expected the config.json that save_pretrained writes")
    return config


@contextmanager
def weights_fit_config(folder: Path, config: dict) -> Iterator[None]:
    """Building a model from ``config`` and loading ``folder``'s weights into it: a missing config key or
    weights of other shapes become one line naming the config's sizes."""
    try:
        yield
    except WeightsError:
        raise
    except KeyError as err:
        raise WeightsError(f"{folder}/config.json lacks {err}") from None
    except (RuntimeError, ValueError, TypeError, ZeroDivisionError) as err:
        sizes = ", ".join(f"{key} {config[key]}" for key in ("hidden_size", "num_hidden_layers",
                                                             "num_attention_heads", "patch_size") if key in config)
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise WeightsError(f"{folder}: the weights do not fit config.json ({sizes}): {first}") from None
