"""The input spec: what a run's inputs are, measured from its data when the run starts and saved in its config."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class InputSpec:
    """``modality``: the registered modality that reads, tokenizes and evaluates the inputs. ``channels``, ``size``
    (spatial ``(H, W)``) and ``frames`` (time steps of a clip or of a trajectory window; None for images) fix the
    encoder's input shape; ``action_dim`` (the environment's action size times the frameskip), ``state_dim`` and
    ``goal_dim`` (the goal recorded with each row; 0 or None when there is none) describe trajectory data;
    ``reader``: what the modality needs to read users' files as this data (audio: the sample rate, clip length and
    spectrogram front end; point clouds: the points per cloud). Methods build themselves from it; nothing writes
    these facts into method configs."""

    modality: str = "image"
    channels: int = 3
    size: tuple[int, int] = (32, 32)
    frames: int | None = None
    action_dim: int | None = None
    state_dim: int | None = None
    goal_dim: int | None = None
    reader: dict[str, Any] | None = None
