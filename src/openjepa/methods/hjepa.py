"""H-JEPA on images: I-JEPA's blocks predicted at several levels of a feature pyramid over the patch grid.

The predictor fills each target block with predicted tokens; the context side's pyramid pools them over 2-D
cells of neighbouring patches (2 x 2, 4 x 4, ...) and the target side's pyramid (an EMA copy) pools the target
encoder's tokens over the same patches of the same cells, so a coarse prediction is checked against the same
neighbourhood at the same level. (The H-JEPA reference pools 1-D over the list of gathered target tokens, so its
"coarse" tokens mix patches that are not neighbours.) Loss: the level losses weighted by ``level_weights``, each
the mean over cells weighted by how many target patches a cell holds; plus I-JEPA's optional terms.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import nn

from openjepa.core.protocols import Batch
from openjepa.core.spec import InputSpec
from openjepa.methods.ijepa import IJepa, IJepaConfig
from openjepa.methods.registry import METHODS
from openjepa.methods.targets import TargetEncoder
from openjepa.nn.pyramid import PyramidConfig, PyramidEncoder, TokenPyramid
from openjepa.nn.vit import ViT
from openjepa.objectives.distances import token_distance
from openjepa.objectives.normalize import normalize_targets


@dataclass
class HJepaConfig(IJepaConfig):
    """H-JEPA settings: :class:`~openjepa.methods.ijepa.IJepaConfig` plus ``pyramid`` (levels and their width)
    and ``level_weights`` (one per level, finest first; the reference's 1, 0.5, 0.25). ``varcov`` or ``sigreg``
    keep the context from collapsing (the reference: 0.1 x VICReg's variance and covariance terms)."""

    name: Literal["hjepa"] = "hjepa"
    pyramid: PyramidConfig = field(default_factory=PyramidConfig)
    level_weights: tuple[float, ...] = (1.0, 0.5, 0.25)

    def validate(self) -> None:
        super().validate()
        if len(self.level_weights) != self.pyramid.levels:
            raise ValueError(f"method.level_weights needs one weight per pyramid level ({self.pyramid.levels}), "
                             f"got {list(self.level_weights)}")
        if min(self.level_weights) < 0 or sum(self.level_weights) <= 0:
            raise ValueError(f"method.level_weights must be >= 0 and not all 0, got {list(self.level_weights)}")
        if self.target_norm == "batch":
            raise ValueError("hjepa normalises each level's targets per cell: method.target_norm must be layer or "
                             "none")


@METHODS.register("hjepa")
class HJepa(IJepa):
    config_class = HJepaConfig
    eval_tasks = ("level_probes",)

    def __init__(self, config: HJepaConfig, encoder: ViT, normalize: nn.Module, spec: InputSpec):
        super().__init__(config, encoder, normalize, spec)
        self.pyramid = TokenPyramid(config.pyramid, encoder.width, encoder.grid)
        self.target_pyramid = TargetEncoder(config.target, self.pyramid)

    def _block_loss(self, context: torch.Tensor, batch: Batch,
                    targets: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The weighted sum of the level losses; logs ``level{l}_loss``. ``targets (B, N, D)``: the target
        encoder's tokens."""
        cfg = self.config
        tgt_idx, tgt_valid = batch["tgt_idx"], batch["tgt_valid"]  # (B, K, Lt)
        pred = self.predictor(context, batch["ctx_idx"], tgt_idx, batch["ctx_valid"], tgt_valid)  # (B, K, Lt, D)
        B, K, _, D = pred.shape
        N = targets.shape[1]
        # each block on a canvas of the whole grid: predicted tokens where the block lies, weight 1 there
        weight = pred.new_zeros(B, K, N).scatter_add_(2, tgt_idx, tgt_valid.to(pred.dtype))
        canvas = pred.new_zeros(B, K, N, D).scatter_add_(2, tgt_idx[..., None].expand(-1, -1, -1, D),
                                                         pred * tgt_valid[..., None])
        pred_maps, covers = self.pyramid(canvas.flatten(0, 1), weight.flatten(0, 1))
        with torch.set_grad_enabled(self.target.gives_gradients and torch.is_grad_enabled()):
            whole = targets[:, None].expand(B, K, N, targets.shape[-1]).flatten(0, 1)
            target_maps, _ = self.target_pyramid.net(whole, weight.flatten(0, 1).to(targets.dtype))
        loss, logs = 0.0, {}
        for level, (p, t, cover, w) in enumerate(zip(pred_maps, target_maps, covers, cfg.level_weights)):
            t = normalize_targets(t.flatten(1, 2), cfg.target_norm)
            distance = token_distance(p.flatten(1, 2).float(), t.float(), cfg.distance)  # (BK, cells)
            cover = cover.flatten(1).float()
            level_loss = (distance * cover).sum() / cover.sum().clamp_min(1.0)
            logs[f"level{level}_loss"] = level_loss.detach()
            loss = loss + w * level_loss
        return loss, logs

    def after_step(self, step: int, total_steps: int) -> dict[str, float]:
        self.target_pyramid.update(self.pyramid, step, total_steps)
        return super().after_step(step, total_steps)

    def eval_encoder(self, which: str = "target") -> PyramidEncoder:
        """The encoder with its pyramid (target: the EMA copies of both); its features hold every level."""
        if which == "target":
            return PyramidEncoder(self.target.net, self.target_pyramid.net)
        return PyramidEncoder(self.encoder, self.pyramid)
