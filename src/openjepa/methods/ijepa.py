"""I-JEPA: predict the target encoder's features of hidden image blocks from a visible context block.

With ``target.mode=shared`` and ``sigreg.weight > 0`` this is I-JEPA + SIGReg:
masking only, no EMA, no augmentations, SIGReg keeping the embeddings from
collapsing (what lejepa#31 asks for).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch
import torch.nn.functional as F

from openjepa.data.augment import resized_crop
from openjepa.masks.multiblock import MultiBlockConfig, MultiBlockMasker, collate_block_masks
from openjepa.methods.base import Method, Normalize, StepOutput
from openjepa.methods.targets import TargetConfig, TargetEncoder
from openjepa.nn.predictor import MaskTokenPredictor, PredictorConfig, gather_tokens
from openjepa.nn.projector import ProjectorConfig, build_projector
from openjepa.nn.vit import ViT
from openjepa.objectives.diagnostics import rankme, token_std
from openjepa.objectives.distances import Distance, masked_mean, token_distance
from openjepa.objectives.normalize import TargetNorm, normalize_targets
from openjepa.objectives.sigreg import SIGRegConfig, sigreg


@dataclass
class IJepaConfig:
    """I-JEPA settings. ``target_norm``: ``layer`` (I-JEPA) or ``batch`` (see
    :func:`~openjepa.objectives.normalize.batch_centre`). ``sigreg_on`` picks the embeddings SIGReg sees when its weight is > 0:
    ``context``/``target`` tokens (flattened over batch and positions) or their per-image means.
    ``sigreg_projector``: an MLP between the pooled embeddings and SIGReg (as LeJEPA and
    LeWorldModel use); None applies SIGReg to the embeddings themselves.
    ``crop_scale``: random resized crops of this area range (the reference uses (0.3, 1.0)); None: none.
    ``global_weight``: weight of a whole-image term (0 in the reference): a learned predictor query
    that sees only the context predicts the mean-pooled, normalised target of the full image. It
    asks the context for what the image is, not only for what lies where, which on small token
    grids keeps the features from settling on position."""

    name: Literal["ijepa"] = "ijepa"
    predictor: PredictorConfig = field(default_factory=lambda: PredictorConfig(width=384, depth=12, heads=12))
    mask: MultiBlockConfig = field(default_factory=MultiBlockConfig)
    target: TargetConfig = field(default_factory=TargetConfig)
    distance: Distance = "smooth_l1"
    target_norm: TargetNorm = "layer"
    sigreg: SIGRegConfig = field(default_factory=SIGRegConfig)
    sigreg_on: Literal["context_tokens", "context_pooled", "target_tokens", "target_pooled"] = "target_pooled"
    crop_scale: tuple[float, float] | None = None
    sigreg_projector: ProjectorConfig | None = None
    global_weight: float = 0.0

    def validate(self) -> None:
        if self.sigreg_projector is not None and self.sigreg_on.endswith("tokens"):
            raise ValueError("sigreg_projector applies to pooled embeddings: use sigreg_on=context_pooled or target_pooled")
        if self.sigreg.weight > 0 and self.sigreg_on.startswith("target") and not (
            self.target.mode == "shared" and not self.target.detach
        ):
            raise ValueError("SIGReg on target embeddings needs gradients through the target: "
                             "set method.target.mode=shared and method.target.detach=false, or sigreg_on=context_*")


class BlockMaskExtras:
    """Loader extras for I-JEPA: multi-block masks per sample, batched and padded."""

    def __init__(self, masker: MultiBlockMasker):
        self.masker = masker

    def __call__(self, seed: int, epoch: int, indices: list[int]) -> dict[str, torch.Tensor]:
        return collate_block_masks([self.masker(seed, epoch, i) for i in indices])


class IJepa(Method):
    def __init__(self, config: IJepaConfig, encoder: ViT, normalize: Normalize):
        super().__init__()
        self.config = config
        self.normalize = normalize
        self.encoder = encoder
        self.target = TargetEncoder(config.target, encoder)
        self.predictor = MaskTokenPredictor(config.predictor, encoder.width, encoder.grid,
                                            global_query=config.global_weight > 0)
        self.masker = MultiBlockMasker(config.mask, encoder.grid)
        self.sigreg_projector = (build_projector(config.sigreg_projector, encoder.width)
                                 if config.sigreg_projector is not None else None)

    def sample_extras(self) -> BlockMaskExtras:
        return BlockMaskExtras(self.masker)

    def forward(self, batch: dict) -> StepOutput:
        images = batch["image"]
        if self.config.crop_scale is not None:
            gen = torch.Generator().manual_seed(batch["seed"])
            images = resized_crop(images, images.shape[-1], self.config.crop_scale, (0.75, 4 / 3), 0.0, gen)
        images = self.normalize(images)
        ctx_idx, ctx_valid = batch["ctx_idx"], batch["ctx_valid"]
        tgt_idx, tgt_valid = batch["tgt_idx"], batch["tgt_valid"]  # (B, K, Lt)
        B, K, Lt = tgt_idx.shape

        context = self.encoder.encode(self.encoder.tokenize(images), ctx_idx, ctx_valid)  # (B, Lc, D)
        with torch.set_grad_enabled(self.target.gives_gradients and torch.is_grad_enabled()):
            full = self.target.net(images)  # (B, N, D)
        targets = normalize_targets(full, self.config.target_norm)
        targets = gather_tokens(targets, tgt_idx.reshape(B, K * Lt)).reshape(B, K, Lt, -1)

        use_global = self.config.global_weight > 0
        pred = self.predictor(context, ctx_idx, tgt_idx, ctx_valid, tgt_valid, with_global=use_global)
        pred, whole = pred if use_global else (pred, None)  # (B, K, Lt, D), (B, D)
        distance = token_distance(pred.float(), targets.float(), self.config.distance)  # (B, K, Lt)
        pred_loss = masked_mean(distance, tgt_valid).mean()
        logs = {"pred_loss": pred_loss.detach(), "token_std": token_std(full), "rankme": rankme(full.mean(1))}
        loss = pred_loss
        if use_global:
            pooled = F.layer_norm(normalize_targets(full, self.config.target_norm).float().mean(1), full.shape[-1:])
            global_loss = token_distance(whole.float(), pooled, self.config.distance).mean()
            loss = loss + self.config.global_weight * global_loss
            logs["global_loss"] = global_loss.detach()
        if self.config.sigreg.weight > 0:
            reg = sigreg(self._sigreg_input(context, ctx_valid, full), seed=batch["step"],
                         slices=self.config.sigreg.slices, knots=self.config.sigreg.knots, t_max=self.config.sigreg.t_max)
            loss = loss + self.config.sigreg.weight * reg
            logs["sigreg"] = reg.detach()
        return StepOutput(loss, logs)

    def _sigreg_input(self, context: torch.Tensor, ctx_valid: torch.Tensor, full: torch.Tensor) -> torch.Tensor:
        """The ``(N, D)`` embeddings that SIGReg regularizes, per ``sigreg_on``."""
        where = self.config.sigreg_on
        if where == "context_tokens":
            return context[ctx_valid]
        if where == "target_tokens":
            return full.reshape(-1, full.shape[-1])
        if where == "context_pooled":
            weights = ctx_valid[..., None].to(context.dtype)
            pooled = (context * weights).sum(1) / weights.sum(1)
        else:
            pooled = full.mean(1)
        return pooled if self.sigreg_projector is None else self.sigreg_projector(pooled)

    def after_step(self, step: int, total_steps: int) -> dict[str, float]:
        m = self.target.update(self.encoder, step, total_steps)
        return {} if m is None else {"momentum": m}

    def eval_encoder(self, which: str = "target") -> ViT:
        return self.target.net if which == "target" else self.encoder
