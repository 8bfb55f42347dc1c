"""Causal-JEPA: objects, not patches, are masked, and the masking acts as an intervention.

A sample is a window of object slots from a frozen object-centric encoder: ``history`` observed frames, then the
frames to predict. Every slot at t = 0 is seen (the objects' identity anchors); the whole history after t = 0 of
``mask.masked`` objects is hidden (``mask.kind: tokens`` hides as many single slots instead: the patch-masking
baseline); every future slot is a query. A transformer over time x objects
(:class:`~openjepa.nn.slot_predictor.SlotPredictor`) fills them in; loss: mean squared error on the hidden history
slots plus on the future slots, in the normalised slot space. The encoder is frozen, so there is no EMA target.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import nn

from openjepa.core.protocols import Batch, Method, StepOutput
from openjepa.core.spec import InputSpec
from openjepa.masks.object_slots import SlotMaskConfig, SlotMasker, SlotMaskExtras
from openjepa.methods.registry import METHODS
from openjepa.nn.slot_predictor import SlotPredictor, SlotPredictorConfig


@dataclass
class CJepaConfig:
    """``history``: observed frames of a window (the rest of ``data.window`` is predicted). ``history_weight`` /
    ``future_weight``: the weights of the two loss terms."""

    name: Literal["cjepa"] = "cjepa"
    history: int = 6
    predictor: SlotPredictorConfig = field(default_factory=SlotPredictorConfig)
    mask: SlotMaskConfig = field(default_factory=SlotMaskConfig)
    history_weight: float = 1.0
    future_weight: float = 1.0

    def validate(self) -> None:
        if self.history < 2:
            raise ValueError(f"method.history must be >= 2 frames (t = 0 is the identity anchor), got {self.history}")
        if min(self.history_weight, self.future_weight) < 0:
            raise ValueError("method.history_weight and method.future_weight must be >= 0")


def hidden_mse(pred: torch.Tensor, slots: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
    """Mean squared error over the slots ``(B, T, N, F)`` where ``hidden (B, T, N)``; 0 when none is."""
    error = (pred.float() - slots.float()).square().mean(-1)
    return (error * hidden).sum() / hidden.sum().clamp_min(1)


@METHODS.register("cjepa")
class CJepa(Method):
    config_class = CJepaConfig
    eval_tasks = ("object_dynamics",)

    def __init__(self, config: CJepaConfig, encoder: nn.Module, normalize: nn.Module, spec: InputSpec):
        super().__init__()
        frames, objects = spec.frames, spec.reader["objects"]
        if config.history >= frames:
            raise ValueError(f"method.history ({config.history}) leaves nothing to predict in windows of "
                             f"data.window={frames} frames")
        self.config, self.encoder, self.normalize = config, encoder, normalize
        self.predictor = SlotPredictor(config.predictor, spec.channels, frames)
        self.masker = SlotMasker(config.mask, config.history, frames - config.history, objects)

    def sample_extras(self) -> SlotMaskExtras:
        return SlotMaskExtras(self.masker)

    def slots(self, inputs: torch.Tensor) -> torch.Tensor:
        """Raw slot windows ``(B, F, T, N)`` -> normalised slots ``(B, T, N, F)``."""
        return self.normalize(inputs).permute(0, 2, 3, 1)

    def forward(self, batch: Batch) -> StepOutput:
        cfg = self.config
        slots = self.slots(batch["inputs"])
        seen = batch["seen"].to(slots.device)
        pred = self.predictor(slots, seen)
        future = torch.zeros_like(seen)
        future[:, cfg.history :] = True
        history_loss = hidden_mse(pred, slots, ~seen & ~future)
        future_loss = hidden_mse(pred, slots, future)
        loss = cfg.history_weight * history_loss + cfg.future_weight * future_loss
        return StepOutput(loss, {"history_loss": history_loss.detach(), "future_loss": future_loss.detach()})

    @torch.no_grad()
    def rollout(self, history: torch.Tensor, steps: int) -> torch.Tensor:
        """Normalised slots of ``history`` frames ``(B, H, N, F)`` (any number of objects) -> the next ``steps``
        frames ``(B, steps, N, F)``, predicted in one pass (``H + steps`` at most the window)."""
        B, H, N, F = history.shape
        slots = torch.cat([history, history.new_zeros(B, steps, N, F)], dim=1)
        seen = torch.zeros(B, H + steps, N, dtype=torch.bool, device=history.device)
        seen[:, :H] = True
        return self.predictor(slots, seen)[:, H:]

    def eval_encoder(self, which: str = "target") -> nn.Module:
        return self.encoder
