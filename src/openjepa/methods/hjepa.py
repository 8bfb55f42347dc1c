"""H-JEPA: predictions at several levels of abstraction.

On images (``hjepa``): I-JEPA's blocks predicted at several levels of a feature pyramid over the patch grid.

The predictor fills each target block with predicted tokens; the context side's pyramid pools them over 2-D
cells of neighbouring patches (2 x 2, 4 x 4, ...) and the target side's pyramid (an EMA copy) pools the target
encoder's tokens at the same patches over the same cells, so a coarse prediction is checked against the same
neighbourhood at the same level. (The H-JEPA reference pools 1-D over the list of gathered target tokens, so its
"coarse" tokens mix patches that are not neighbours.) Loss: the level losses weighted by ``level_weights``, each
the mean over cells weighted by how many target patches a cell holds; plus I-JEPA's optional terms.

On video (``hjepa_video``), LeCun's temporal reading: level 1 is V-JEPA predicting every token of the future time
steps from the first ones; level 2 pools the states over space and over windows of ``window`` time steps and
predicts the pooled target states of the windows wholly after the context from the pooled context windows, with a
predictor of its own. Its energy is the sum of the levels' (each future token also scores its window's level-2
distance), so surprise counts both the detail and the abstract course of a clip.
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
from openjepa.methods.vjepa import VJepa, VJepaConfig
from openjepa.nn.predictor import MaskTokenPredictor, PredictorConfig, gather_tokens
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
        if self.latent.kind != "none":
            raise ValueError("hjepa scores its predictions on pyramid cells, not tokens, and has no latent: "
                             "method.latent.kind must be none")


@METHODS.register("hjepa")
class HJepa(IJepa):
    config_class = HJepaConfig
    eval_tasks = ("level_probes",)
    # its predictions are scored on pyramid cells over each block, not token by token against the target tokens:
    # no PredictsTargets (None opts a class out of a protocol)
    target_features = prediction_problem = prediction_energy = predict_targets = None

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
        B, K, Lt, _ = pred.shape
        blocks, valid = tgt_idx.flatten(0, 1), tgt_valid.flatten(0, 1)  # (BK, Lt): each block on its own
        pred_maps, covers = self.pyramid(pred.flatten(0, 1), blocks, valid)
        with torch.set_grad_enabled(self.target.gives_gradients and torch.is_grad_enabled()):
            block_targets = gather_tokens(targets, tgt_idx.reshape(B, K * Lt)).reshape(B * K, Lt, -1)
            target_maps, _ = self.target_pyramid.net(block_targets, blocks, valid)
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


@dataclass
class TemporalHJepaConfig(VJepaConfig):
    """Temporal H-JEPA settings: :class:`~openjepa.methods.vjepa.VJepaConfig` (level 1; its masks must be
    ``future`` masks) plus ``window`` (time steps pooled into one level-2 state), ``level2`` (the level-2
    predictor over windows) and ``level2_weight`` (its loss weight, and its share of the energy)."""

    name: Literal["hjepa_video"] = "hjepa_video"
    window: int = 2
    level2: PredictorConfig = field(default_factory=lambda: PredictorConfig(width=96, depth=2, heads=4))
    level2_weight: float = 1.0

    def validate(self) -> None:
        super().validate()
        if self.window < 1 or self.level2_weight < 0:
            raise ValueError(f"method.window must be >= 1 and method.level2_weight >= 0, got {self.window}, "
                             f"{self.level2_weight}")
        if any(m.kind != "future" for m in self.masks):
            raise ValueError("hjepa_video's second level predicts the windows after the context: every entry of "
                             "method.masks must be {kind: future, ...}")


@METHODS.register("hjepa_video")
class TemporalHJepa(VJepa):
    config_class = TemporalHJepaConfig

    def __init__(self, config: TemporalHJepaConfig, encoder: ViT, normalize: nn.Module, spec: InputSpec):
        super().__init__(config, encoder, normalize, spec)
        self.windows = -(-encoder.grid[0] // config.window)
        if self.windows < 2:
            raise ValueError(f"hjepa_video needs at least 2 windows of method.window={config.window} time steps; "
                             f"the encoder's grid has {encoder.grid[0]}")
        self.level2 = MaskTokenPredictor(config.level2, encoder.width, (self.windows,))

    def window_states(self, tokens: torch.Tensor, idx: torch.Tensor,
                      valid: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean of the tokens ``(B, L, D)`` at token ids ``idx (B, L)`` over each window of time steps:
        ``(B, windows, D)`` and how many tokens each window held ``(B, windows)``."""
        B, _, D = tokens.shape
        per_step = self.encoder.grid[1] * self.encoder.grid[2]
        window = idx // (per_step * self.config.window)
        weight = tokens.new_ones(idx.shape) if valid is None else valid.to(tokens.dtype)
        counts = tokens.new_zeros(B, self.windows).scatter_add_(1, window, weight)
        sums = tokens.new_zeros(B, self.windows, D).scatter_add_(1, window[..., None].expand(-1, -1, D),
                                                                 tokens * weight[..., None])
        return sums / counts.clamp_min(1e-6)[..., None], counts

    def level2_distance(self, context: torch.Tensor, ctx_idx: torch.Tensor, ctx_valid: torch.Tensor | None,
                        targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Level 2: the distance ``(B, windows)`` of the predicted to the pooled target state of each window
        wholly after the context, and which windows those are ``(B, windows)`` (bool)."""
        B, N = targets.shape[:2]
        per_window = self.encoder.grid[1] * self.encoder.grid[2] * self.config.window
        ctx_states, ctx_counts = self.window_states(context, ctx_idx, ctx_valid)
        all_ids = torch.arange(N, device=targets.device).expand(B, -1)
        tgt_states, _ = self.window_states(targets, all_ids)
        tgt_states = normalize_targets(tgt_states, self.config.target_norm)
        seen = ctx_idx if ctx_valid is None else ctx_idx.masked_fill(~ctx_valid, -1)
        first_free = (seen.amax(1) // per_window + 1)[:, None]  # (B, 1): the first window with no context
        windows = torch.arange(self.windows, device=targets.device).expand(B, -1)
        ahead = windows >= first_free
        pred = self.level2(ctx_states, windows, windows[:, None], ctx_counts > 0, ahead[:, None])[:, 0]
        return token_distance(pred.float(), tgt_states.float(), self.config.distance), ahead

    def further_terms(self, context: torch.Tensor, ctx_idx: torch.Tensor, ctx_valid: torch.Tensor,
                      targets: torch.Tensor) -> dict[str, tuple[torch.Tensor, float]]:
        distance, ahead = self.level2_distance(context, ctx_idx, ctx_valid, targets)
        # the mean over every window ahead in the batch (samples with more context have fewer)
        term = (distance * ahead).sum() / ahead.sum().clamp_min(1)
        return {**super().further_terms(context, ctx_idx, ctx_valid, targets),
                "level2_loss": (term, self.config.level2_weight)}

    def prediction_energy(self, clips: torch.Tensor, ctx: torch.Tensor, tgt: torch.Tensor) -> torch.Tensor:
        """``(B, Lt)``: level 1's distance at each token of ``tgt`` plus ``level2_weight`` x level 2's distance of
        the token's window (0 for windows that hold context)."""
        with torch.no_grad():
            targets = self.target_features(clips)
        energy = super().prediction_energy(clips, ctx, tgt, targets)
        ctx_idx = ctx.expand(len(clips), -1)
        with torch.no_grad():
            context = self.encoder.encode(self.encoder.tokenize(clips), ctx_idx)
            distance, ahead = self.level2_distance(context, ctx_idx, None, targets[..., : self.encoder.width])
        per_window = self.encoder.grid[1] * self.encoder.grid[2] * self.config.window
        level2 = (distance * ahead)[:, tgt // per_window]  # (B, Lt)
        return energy + self.config.level2_weight * level2.to(energy.dtype)
