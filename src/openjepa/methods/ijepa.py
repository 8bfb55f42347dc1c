"""I-JEPA: predict the target encoder's features of hidden image blocks from a visible context block.

With ``target.mode=shared`` and ``sigreg.weight > 0`` this is I-JEPA + SIGReg:
masking only, no EMA, no augmentations, SIGReg keeping the embeddings from
collapsing (what lejepa#31 asks for).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import torch
from torch import nn

from openjepa.core.config import Registered
from openjepa.core.protocols import Batch, Method, StepOutput
from openjepa.core.spec import InputSpec
from openjepa.data.augment import ViewConfig, random_view
from openjepa.masks.multiblock import MultiBlockConfig, collate_block_masks
from openjepa.masks.registry import MASKERS
from openjepa.methods.registry import METHODS
from openjepa.methods.targets import TargetConfig, TargetEncoder
from openjepa.nn.predictor import MaskTokenPredictor, PredictorConfig, gather_tokens
from openjepa.nn.projector import ProjectorConfig, build_projector
from openjepa.nn.vit import ViT
from openjepa.objectives.diagnostics import rankme, token_std
from openjepa.objectives.distances import Distance, masked_mean, token_distance
from openjepa.objectives.normalize import TargetNorm, normalize_targets
from openjepa.objectives.sigreg import SIGRegConfig, sigreg
from openjepa.objectives.vicreg import VarCovConfig, varcov_loss


def _masker_config(masker: type) -> type:
    return masker.config_class


@dataclass
class IJepaConfig:
    """I-JEPA settings.

    ``target_norm``: ``layer`` (I-JEPA) or ``batch`` (see :func:`~openjepa.objectives.normalize.batch_centre`).
    ``view``: each step sees an augmented view of its images (the reference uses random resized
    crops of scale (0.3, 1.0) and nothing else); None: the images as they are.
    ``projector``: an MLP on mean-pooled embeddings (as LeJEPA and LeWorldModel use), read by the
    whole-image term and by SIGReg on pooled embeddings.
    ``global_weight``: weight of a whole-image term, 0 in the reference: the projected mean of the
    context tokens must match the projected mean of the target encoder's tokens of the whole image
    (of a second, independent view when ``view`` is set). Block prediction alone asks only what lies
    where; on small token grids that settles on position within minutes, and this term asks what the
    image is. It needs a projector and an anti-collapse term (SIGReg) next to it.
    ``global_views``: extra views for the whole-image term, each a random ``global_keep`` share of
    the image's tokens seen by the context encoder; each view's projected mean must match the
    whole image's too (masking as the only augmentation, as in MSN).
    ``mask``: a registered masker's settings, chosen by ``mask.name`` (default ``multiblock``, I-JEPA's).
    ``varcov``: VICReg's variance and covariance terms on the embeddings ``sigreg_on`` names (one of the
    ``context_*``/``target_*`` choices), beside or instead of SIGReg.
    ``sigreg_on``: the embeddings SIGReg sees when its weight is > 0: ``context``/``target`` tokens
    (flattened over batch and positions) or their per-image means (projected when a projector is set);
    ``both_pooled``: the mean of SIGReg on every view of the whole-image term (as LeJEPA does over views).
    """

    name: Literal["ijepa"] = "ijepa"
    predictor: PredictorConfig = field(default_factory=lambda: PredictorConfig(width=384, depth=12, heads=12))
    mask: Annotated[Any, Registered(MASKERS, "name", _masker_config, default="multiblock")] = field(
        default_factory=MultiBlockConfig)
    target: TargetConfig = field(default_factory=TargetConfig)
    distance: Distance = "smooth_l1"
    target_norm: TargetNorm = "layer"
    view: ViewConfig | None = None
    projector: ProjectorConfig | None = None
    global_weight: float = 0.0
    global_views: int = 0
    global_keep: float = 0.5
    sigreg: SIGRegConfig = field(default_factory=SIGRegConfig)
    sigreg_on: Literal["context_tokens", "context_pooled", "target_tokens", "target_pooled", "both_pooled"] = (
        "target_pooled")
    varcov: VarCovConfig = field(default_factory=VarCovConfig)

    def validate(self) -> None:
        if self.global_weight > 0 and self.projector is None:
            raise ValueError("method.global_weight > 0 needs method.projector, e.g. {hidden: 512, out: 128}")
        if self.global_views and self.global_weight <= 0:
            raise ValueError("method.global_views are views for the whole-image term: set global_weight > 0")
        if not 0 < self.global_keep <= 1:
            raise ValueError(f"method.global_keep must lie in (0, 1], got {self.global_keep}")
        if self.global_weight < 0:
            raise ValueError(f"method.global_weight must be >= 0, got {self.global_weight}")
        if self.sigreg_on == "both_pooled" and self.global_weight <= 0:
            raise ValueError("sigreg_on=both_pooled regularizes both sides of the whole-image term: set global_weight > 0")
        if self.varcov.weight > 0 and self.sigreg_on == "both_pooled":
            raise ValueError("method.varcov regularizes one set of embeddings: set sigreg_on to a context_* or "
                             "target_* choice")
        if max(self.sigreg.weight, self.varcov.weight) > 0 and self.sigreg_on.startswith("target") and not (
            self.target.mode == "shared" and not self.target.detach
        ):
            raise ValueError("SIGReg or varcov on target embeddings needs gradients through the target: "
                             "set method.target.mode=shared and method.target.detach=false, or sigreg_on=context_*")


class BlockMaskExtras:
    """Loader extras for I-JEPA: one masker draw (context and target blocks) per sample, batched and padded."""

    def __init__(self, masker: Any):
        self.masker = masker

    def __call__(self, seed: int, epoch: int, indices: list[int]) -> dict[str, torch.Tensor]:
        return collate_block_masks([self.masker(seed, epoch, i) for i in indices])


@METHODS.register("ijepa")
class IJepa(Method):
    config_class = IJepaConfig

    def __init__(self, config: IJepaConfig, encoder: ViT, normalize: nn.Module, spec: InputSpec):
        super().__init__()
        self.config = config
        self.normalize = normalize
        self.encoder = encoder
        self.target = TargetEncoder(config.target, encoder)
        self.predictor = MaskTokenPredictor(config.predictor, encoder.width, encoder.grid)
        self.masker = MASKERS.get(config.mask.name)(config.mask, encoder.grid)
        self.projector = build_projector(config.projector, encoder.width) if config.projector is not None else None

    def sample_extras(self) -> BlockMaskExtras:
        return BlockMaskExtras(self.masker)

    def forward(self, batch: Batch) -> StepOutput:
        cfg = self.config
        gen = torch.Generator().manual_seed(batch["seed"])
        images = self.normalize(self._view(batch["inputs"], gen))
        ctx_idx, ctx_valid = batch["ctx_idx"], batch["ctx_valid"]

        tokens = self.encoder.tokenize(images)
        context = self.encoder.encode(tokens, ctx_idx, ctx_valid)  # (B, Lc, D)
        # with a shared encoder and no second view, one pass over the whole image serves both the
        # block targets (detached when target.detach) and the whole-image term (with gradients)
        whole_grad = cfg.global_weight > 0 and cfg.target.mode == "shared"
        one_pass = cfg.view is None
        full = self._target(images, self.target.gives_gradients or (one_pass and whole_grad))  # (B, N, D)
        seen = full.detach()
        pred_loss, logs = self._block_loss(context, batch, full if self.target.gives_gradients else seen)
        logs.update(pred_loss=pred_loss.detach(), token_std=token_std(seen), rankme=rankme(seen.mean(1)))
        loss = pred_loss

        pooled_ctx = masked_mean(context.transpose(1, 2), ctx_valid[:, None])  # (B, D)
        z_ctx = self.projector(pooled_ctx).float() if self.projector is not None else None
        if cfg.global_weight > 0:
            # with a shared encoder both sides of this term learn, as in LeJEPA; target.detach stops
            # gradients through the block targets only
            whole = full if one_pass else self._target(self.normalize(self._view(batch["inputs"], gen)), whole_grad)
            z_whole = self.projector(whole.mean(1)).float()
            views = [z_ctx] + [self.projector(v.mean(1)).float() for v in self._masked_views(tokens, gen)]
            global_loss = sum((z - z_whole).square().mean() for z in views) / len(views)
            loss = loss + cfg.global_weight * global_loss
            logs["global_loss"] = global_loss.detach()
        if cfg.sigreg.weight > 0:
            embeddings = ([*views, z_whole] if cfg.sigreg_on == "both_pooled"
                          else [self._sigreg_input(context, ctx_valid, pooled_ctx, z_ctx, full)])
            reg = sum(sigreg(z, seed=batch["step"], slices=cfg.sigreg.slices, knots=cfg.sigreg.knots,
                             t_max=cfg.sigreg.t_max) for z in embeddings) / len(embeddings)
            loss = loss + cfg.sigreg.weight * reg
            logs["sigreg"] = reg.detach()
        if cfg.varcov.weight > 0:
            reg = varcov_loss(self._sigreg_input(context, ctx_valid, pooled_ctx, z_ctx, full).float(), cfg.varcov)
            loss = loss + cfg.varcov.weight * reg
            logs["varcov"] = reg.detach()
        return StepOutput(loss, logs)

    def _block_loss(self, context: torch.Tensor, batch: Batch,
                    targets: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The mean distance of the predicted target blocks to the target encoder's tokens ``(B, N, D)``, and
        logs."""
        tgt_idx, tgt_valid = batch["tgt_idx"], batch["tgt_valid"]  # (B, K, Lt)
        B, K, Lt = tgt_idx.shape
        targets = normalize_targets(targets, self.config.target_norm)
        targets = gather_tokens(targets, tgt_idx.reshape(B, K * Lt)).reshape(B, K, Lt, -1)
        pred = self.predictor(context, batch["ctx_idx"], tgt_idx, batch["ctx_valid"], tgt_valid)  # (B, K, Lt, D)
        distance = token_distance(pred.float(), targets.float(), self.config.distance)  # (B, K, Lt)
        return masked_mean(distance, tgt_valid).mean(), {}

    def _masked_views(self, tokens: torch.Tensor, gen: torch.Generator) -> list[torch.Tensor]:
        """``global_views`` encodings ``(B, L, D)`` of random ``global_keep`` shares of ``tokens (B, N, D)``."""
        B, N, _ = tokens.shape
        keep = max(1, round(self.config.global_keep * N))
        out = []
        for _ in range(self.config.global_views):
            idx = torch.rand(B, N, generator=gen).argsort(1)[:, :keep].to(tokens.device)
            out.append(self.encoder.encode(tokens, idx))
        return out

    def _view(self, images: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """An augmented view per ``config.view`` of ``(B, C, H, W)`` images, or the images themselves."""
        return images if self.config.view is None else random_view(images, self.config.view, gen)

    def _target(self, images: torch.Tensor, grad: bool) -> torch.Tensor:
        """Target tokens ``(B, N, D)``; gradients flow only if ``grad`` (and autograd is on)."""
        with torch.set_grad_enabled(grad and torch.is_grad_enabled()):
            return self.target.net(images)

    def _sigreg_input(self, context: torch.Tensor, ctx_valid: torch.Tensor, pooled_ctx: torch.Tensor,
                      z_ctx: torch.Tensor | None, full: torch.Tensor) -> torch.Tensor:
        """The ``(N, D)`` embeddings that SIGReg regularizes, per ``sigreg_on``."""
        where = self.config.sigreg_on
        if where == "context_tokens":
            return context[ctx_valid]
        if where == "target_tokens":
            return full.reshape(-1, full.shape[-1])
        if where == "context_pooled":
            return pooled_ctx if z_ctx is None else z_ctx
        return full.mean(1) if self.projector is None else self.projector(full.mean(1))

    def after_step(self, step: int, total_steps: int) -> dict[str, float]:
        m = self.target.update(self.encoder, step, total_steps)
        return {} if m is None else {"momentum": m}

    def eval_encoder(self, which: str = "target") -> ViT:
        return self.target.net if which == "target" else self.encoder
