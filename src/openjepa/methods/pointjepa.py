"""Point-cloud JEPAs: Point-JEPA (targets are contiguous ranges of the sequencer's token order, a mask-token
predictor, smooth L1 to layer-normed EMA targets) and 3D-JEPA (target blocks are neighbourhood balls, one context
block, a context-aware decoder, cosine loss). One method; the two names differ in their defaults.

Masks depend on the cloud (where its groups lie), so the step draws them from the batch's seed, one draw per
sample (see :mod:`openjepa.masks.point_regions`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import nn

from openjepa.core.errors import ConfigError
from openjepa.core.protocols import Batch, Method, StepOutput
from openjepa.core.spec import InputSpec
from openjepa.data.point_views import PointViewConfig, random_point_view
from openjepa.masks.multiblock import collate_block_masks
from openjepa.masks.point_regions import PointMaskConfig, sequence_ranges, spatial_blocks
from openjepa.methods.registry import METHODS
from openjepa.methods.targets import TargetConfig, TargetEncoder
from openjepa.modalities.point_tokens import PointCloudEmbed
from openjepa.nn.context_decoder import ContextAwarePredictor
from openjepa.nn.point_tokenizer import CentreEmbed
from openjepa.nn.predictor import MaskTokenPredictor, PredictorConfig, gather_tokens
from openjepa.nn.projector import ProjectorConfig, build_projector
from openjepa.nn.vit import ViT
from openjepa.objectives.diagnostics import diagnosing, rankme, token_std
from openjepa.objectives.distances import Distance, masked_mean, token_distance
from openjepa.objectives.normalize import TargetNorm, normalize_targets
from openjepa.objectives.sigreg import SIGRegConfig, sigreg


@dataclass
class PointJepaConfig:
    """Point-JEPA settings. ``decoder``: ``mask_token`` (the context goes in once, beside one mask token per
    target, I-JEPA's predictor) or ``context_aware`` (every layer reads the context again, 3D-JEPA's). ``mask``:
    ``kind: sequence`` (contiguous ranges of the sequencer order) or ``blocks`` (neighbourhood balls in 3-D).
    ``target.momentum``: Point-JEPA's EMA goes 0.9995 -> 0.99999 (the reference's class defaults swap the two).
    ``global_weight`` (0 in the papers): a whole-cloud term, the projected mean of the context tokens and of the
    context encoder's tokens of a random ``view`` of the whole cloud (rotated, stretched, jittered) must match the
    projected mean of the target encoder's tokens of the cloud. Group prediction alone asks what lies where, which
    in a randomly posed cloud is mostly about pose; this term asks what the cloud is, whatever its pose. It needs
    a ``projector`` and SIGReg (``sigreg``, on the projected embeddings) beside it.
    ``sigreg``: SIGReg on the projected embeddings of the whole-cloud term, or without it on the context
    encoder's mean-pooled tokens."""

    name: Literal["pointjepa"] = "pointjepa"
    predictor: PredictorConfig = field(default_factory=lambda: PredictorConfig(width=192, depth=6, heads=6))
    decoder: Literal["mask_token", "context_aware"] = "mask_token"
    mask: PointMaskConfig = field(default_factory=PointMaskConfig)
    target: TargetConfig = field(default_factory=lambda: TargetConfig(momentum=(0.9995, 0.99999)))
    distance: Distance = "smooth_l1"
    target_norm: TargetNorm = "layer"
    view: PointViewConfig = field(default_factory=PointViewConfig)
    projector: ProjectorConfig | None = None
    global_weight: float = 0.0
    sigreg: SIGRegConfig = field(default_factory=SIGRegConfig)

    def validate(self) -> None:
        self.mask.validate()
        self.view.validate()
        if self.global_weight < 0:
            raise ValueError(f"method.global_weight must be >= 0, got {self.global_weight}")
        if self.global_weight > 0 and self.projector is None:
            raise ValueError("method.global_weight > 0 needs method.projector, e.g. {hidden: 512, out: 128}")
        if self.target.mode == "frozen":
            raise ValueError("method.target.mode: point JEPAs train their encoder; use ema or shared")


@dataclass
class Jepa3dConfig(PointJepaConfig):
    """3D-JEPA settings: :class:`PointJepaConfig` with 3D-JEPA's defaults (context-aware decoder, spatial blocks,
    cosine distance to the teacher)."""

    name: Literal["jepa3d"] = "jepa3d"
    decoder: Literal["mask_token", "context_aware"] = "context_aware"
    mask: PointMaskConfig = field(default_factory=lambda: PointMaskConfig(kind="blocks", context_scale=(0.85, 1.0)))
    target: TargetConfig = field(default_factory=lambda: TargetConfig(momentum=(0.996, 1.0)))
    distance: Distance = "cosine"


@METHODS.register("pointjepa")
class PointJepa(Method):
    config_class = PointJepaConfig

    def __init__(self, config: PointJepaConfig, encoder: ViT, normalize: nn.Module, spec: InputSpec):
        super().__init__()
        if not isinstance(encoder.patch_embed, PointCloudEmbed):
            raise ConfigError(f"{config.name} reads point clouds: set data.modality: points (this encoder reads "
                              f"{spec.modality} inputs)")
        self.config = config
        self.normalize = normalize
        self.encoder = encoder
        self.target = TargetEncoder(config.target, encoder)
        width = config.predictor.width
        if config.decoder == "context_aware":
            self.predictor = ContextAwarePredictor(config.predictor, encoder.width)
        else:
            self.predictor = MaskTokenPredictor(config.predictor, encoder.width, encoder.grid)
        self.query_positions = CentreEmbed(width)
        self.projector = build_projector(config.projector, encoder.width) if config.projector is not None else None

    def draw_masks(self, inputs: torch.Tensor, seed: int) -> dict[str, torch.Tensor]:
        """See :class:`~openjepa.core.protocols.DrawsMasks`; one draw per sample from ``seed``."""
        centres, neighbours = self.encoder.patch_embed.group(inputs)
        gen = torch.Generator().manual_seed(seed)
        cfg = self.config.mask
        if cfg.kind == "sequence":
            draws = [sequence_ranges(centres.shape[1], cfg, gen) for _ in range(len(centres))]
        else:
            draws = [spatial_blocks(c, cfg, gen) for c in centres.cpu()]
        masks = {k: v.to(inputs.device) for k, v in collate_block_masks(draws).items()}
        return {**masks, "centres": centres, "neighbours": neighbours}

    def forward(self, batch: Batch) -> StepOutput:
        cfg = self.config
        clouds = self.normalize(batch["inputs"])  # (B, 3, P)
        drawn = self.draw_masks(clouds, batch["seed"])
        centres, neighbours = drawn["centres"], drawn["neighbours"]
        ctx_idx, ctx_valid, tgt_idx, tgt_valid = (drawn[k] for k in ("ctx_idx", "ctx_valid", "tgt_idx", "tgt_valid"))
        B, K, Lt = tgt_idx.shape
        context = self.encoder.encode(self.encoder.patch_embed.embed(centres, neighbours), ctx_idx, ctx_valid)
        target_net = self.target.net
        with torch.set_grad_enabled(self.target.gives_gradients and torch.is_grad_enabled()):
            full = target_net.encode(target_net.patch_embed.embed(centres, neighbours))  # (B, G, D)
        seen = full.detach()
        targets = normalize_targets(full if self.target.gives_gradients else seen, cfg.target_norm)
        targets = gather_tokens(targets, tgt_idx.reshape(B, K * Lt)).reshape(B, K, Lt, -1)
        positions = self.query_positions(centres.to(context.dtype))
        pred = self.predictor(context, ctx_idx, tgt_idx, ctx_valid, tgt_valid, positions=positions)
        pred_loss = masked_mean(token_distance(pred.float(), targets.float(), cfg.distance), tgt_valid).mean()
        logs = {"pred_loss": pred_loss.detach(), "context_tokens": ctx_valid.sum(1).float().mean()}
        if diagnosing(batch):
            logs.update(token_std=token_std(seen), rankme=rankme(seen.mean(1)))
        loss = pred_loss
        pooled = masked_mean(context.transpose(1, 2), ctx_valid[:, None])  # (B, D)
        embeddings = [pooled.float()]
        if cfg.global_weight > 0:
            gen = torch.Generator().manual_seed(batch["seed"] + 1)
            view = random_point_view(clouds, cfg.view, gen)
            whole_view = self.encoder(view).mean(1)
            embeddings = [self.projector(v).float() for v in (pooled, whole_view)]
            z_whole = self.projector(seen.mean(1)).float()
            global_loss = sum((z - z_whole).square().mean() for z in embeddings) / len(embeddings)
            loss = loss + cfg.global_weight * global_loss
            logs["global_loss"] = global_loss.detach()
        if cfg.sigreg.weight > 0:
            reg = sum(sigreg(z, seed=batch["step"], slices=cfg.sigreg.slices, knots=cfg.sigreg.knots,
                             t_max=cfg.sigreg.t_max) for z in embeddings) / len(embeddings)
            loss = loss + cfg.sigreg.weight * reg
            logs["sigreg"] = reg.detach()
        return StepOutput(loss, logs)

    def after_step(self, step: int, total_steps: int) -> dict[str, float]:
        m = self.target.update(self.encoder, step, total_steps)
        return {} if m is None else {"momentum": m}

    def eval_encoder(self, which: str = "target") -> ViT:
        return self.target.net if which == "target" else self.encoder


@METHODS.register("jepa3d")
class Jepa3d(PointJepa):
    config_class = Jepa3dConfig
