"""I-JEPA: predict the target encoder's features of hidden image blocks from a visible context block.

With ``target.mode=shared`` and ``sigreg.weight > 0`` this is I-JEPA + SIGReg:
masking only, no EMA, no augmentations, SIGReg keeping the embeddings from
collapsing (what lejepa#31 asks for).

``latent`` gives the predictor a latent variable z (:mod:`openjepa.nn.latent`), one per image, shared by its
target blocks: the block loss and every energy are then the free energy, the minimum over z.
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
from openjepa.methods.energies import PredictionEnergies
from openjepa.methods.registry import METHODS
from openjepa.methods.targets import TargetConfig, TargetEncoder
from openjepa.nn.latent import LatentConfig, LatentVariable
from openjepa.nn.predictor import MaskTokenPredictor, PredictorConfig, gather_tokens
from openjepa.nn.projector import ProjectorConfig, build_projector
from openjepa.nn.vit import ViT
from openjepa.objectives.diagnostics import diagnosing, rankme, token_std
from openjepa.objectives.distances import Distance, masked_mean
from openjepa.objectives.energy import PredictionProblem, free_energy, repeat_rows
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
    ``latent``: the predictor's latent variable (kind ``none``: without one).
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
    latent: LatentConfig = field(default_factory=LatentConfig)

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
            raise ValueError("sigreg_on=both_pooled regularizes both sides of the whole-image term: "
                             "set global_weight > 0")
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
class IJepa(PredictionEnergies, Method):
    config_class = IJepaConfig
    predicts_change = False

    def __init__(self, config: IJepaConfig, encoder: ViT, normalize: nn.Module, spec: InputSpec):
        super().__init__()
        self.config = config
        self.normalize = normalize
        self.encoder = encoder
        self.target = TargetEncoder(config.target, encoder)
        self.predictor = MaskTokenPredictor(config.predictor, encoder.width, encoder.grid)
        self.latent = LatentVariable(config.latent, config.predictor.width, encoder.width)
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
        logs["pred_loss"] = pred_loss.detach()
        if diagnosing(batch):
            logs.update(token_std=token_std(seen), rankme=rankme(seen.mean(1)))
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
        """The distance of the predicted target blocks to the target encoder's tokens ``targets (B, N, D)``, its
        mean over each block's real tokens, then over blocks and images (with a latent: at each image's z of least
        mean energy over its target tokens), and the latent's logs."""
        tgt_idx, tgt_valid = batch["tgt_idx"], batch["tgt_valid"]  # (B, K, Lt)
        targets = normalize_targets(targets, self.config.target_norm)
        problem = self._problem(context, batch["ctx_idx"], tgt_idx, targets, batch["ctx_valid"], tgt_valid)
        choice = free_energy(self.latent, problem)  # energy (B, K Lt)
        return masked_mean(choice.energy.reshape(tgt_valid.shape), tgt_valid).mean(), dict(choice.logs)

    def _problem(self, context: torch.Tensor, ctx_idx: torch.Tensor, tgt_idx: torch.Tensor, targets: torch.Tensor,
                 ctx_valid: torch.Tensor | None = None, tgt_valid: torch.Tensor | None = None) -> PredictionProblem:
        """The prediction of ``K`` target blocks ``tgt_idx (B, K, Lt)`` (real where ``tgt_valid``) from the context
        encoding ``context (B, Lc, D)`` at ``ctx_idx`` (real where ``ctx_valid``), as ``K Lt`` tokens block after
        block, scored against the normalised target features ``targets (B, N, D)``. One z per image, shared by its
        blocks; each block sees the context and itself only (:func:`~openjepa.nn.predictor.block_attention_mask`)."""
        B, K, Lt = tgt_idx.shape

        def predict(z: torch.Tensor | None) -> torch.Tensor:
            R = 1 if z is None else z.shape[1]
            pred = self.predictor(repeat_rows(context, R), repeat_rows(ctx_idx, R), repeat_rows(tgt_idx, R),
                                  repeat_rows(ctx_valid, R), repeat_rows(tgt_valid, R),
                                  condition=self.latent.condition(z))  # (B R, K, Lt, D)
            return pred.reshape(B, R, K * Lt, -1)

        valid = None if tgt_valid is None else tgt_valid.reshape(B, K * Lt)
        return PredictionProblem(predict, gather_tokens(targets, tgt_idx.reshape(B, K * Lt)), self.config.distance,
                                 valid)

    def target_features(self, images: torch.Tensor) -> torch.Tensor:
        """The target encoder's tokens ``(B, N, D)`` of normalised images, normalised per ``target_norm``."""
        return normalize_targets(self._target(images, self.target.gives_gradients), self.config.target_norm)

    def prediction_problem(self, images: torch.Tensor, ctx_idx: torch.Tensor, tgt_idx: torch.Tensor,
                           targets: torch.Tensor | None = None) -> PredictionProblem:
        """The prediction, from the context encoder's view of the tokens at ``ctx_idx (B, Lc)`` of normalised
        images, of the target features at ``tgt_idx (B, Lt)``, one block (``targets``: the images'
        :meth:`target_features` when the caller has them already)."""
        if targets is None:
            with torch.no_grad():
                targets = self.target_features(images)
        context = self.encoder.encode(self.encoder.tokenize(images), ctx_idx)
        return self._problem(context, ctx_idx, tgt_idx[:, None], targets)

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
