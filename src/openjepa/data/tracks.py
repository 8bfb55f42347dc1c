"""Tracked clips: frames of a moving agent with its 2-D position at every frame; a forecaster reads the first
``observed`` frames and forecasts the positions (and frames) after them."""

from __future__ import annotations

from dataclasses import dataclass

from openjepa.data.clips import VideoData


@dataclass
class TrackData(VideoData):
    """Clips whose splits are sequences of ``(clip uint8 (C, T, H, W), {"positions": float32 (T, 2)})`` with
    ``positions``, all of a split's ``(N, T, 2)``, in fractions of the frame's side (x right, y down); ``observed``:
    the frames a forecaster reads, the ``T - observed`` after them are the horizon; ``cue_frames``: the first frames,
    which alone show where the agent heads (0: none), so a window over recent frames must not reach them."""

    observed: int
    cue_frames: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 1 <= self.observed < self.frames:
            raise ValueError(f"{self.name}: {self.observed} observed frames leave no horizon in clips of "
                             f"{self.frames} frames")
