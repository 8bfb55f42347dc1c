"""V-JEPA, V-JEPA 2 and V-JEPA 2.1: predict the target encoder's features of masked space-time tubes.

One method covers the three; recipes pick the differences. V-JEPA: 3-D sincos
positions, EMA 0.998 -> 1, L1 on layer-normed targets, short- and long-range
masks. V-JEPA 2: RoPE, constant EMA, constant learning rate after warmup.
V-JEPA 2.1 adds a dense loss on the visible tokens, each weighted by
``context_weight / sqrt(distance to the nearest masked token)``, and deep
supervision: the predictor also predicts intermediate encoder layers
(``deep_layers``). ``predict_change`` (not in the papers) makes the targets
the change of the target features since the clip's first time step.
``objective: future`` trains on one task only: from the first half of each clip's time steps, predict the
target features of the rest with the ``future`` mask token (what ``openjepa fit-predictor`` trains, encoders
frozen, and what ``openjepa surprise`` scores). ``latent`` gives the predictor a latent variable z
(:mod:`openjepa.nn.latent`): the loss and every energy are then the free energy, the minimum over z.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import nn

from openjepa.core.protocols import Batch, Method, StepOutput
from openjepa.core.spec import InputSpec
from openjepa.data.augment import Flips, random_flips
from openjepa.masks.multiblock import BlockMasks
from openjepa.masks.tubes import TubeMaskConfig, TubeMasker, collate_tube_masks, future_split, vjepa_mask_configs
from openjepa.methods.energies import PredictionEnergies
from openjepa.methods.registry import METHODS
from openjepa.methods.targets import TargetConfig, TargetEncoder
from openjepa.nn.latent import LatentConfig, LatentVariable
from openjepa.nn.predictor import MaskTokenPredictor, PredictorConfig, gather_tokens
from openjepa.nn.rope import grid_coords
from openjepa.nn.vit import ViT
from openjepa.objectives.diagnostics import diagnosing, rankme, token_std
from openjepa.objectives.distances import Distance, masked_mean, token_distance
from openjepa.objectives.energy import PredictionProblem, free_energy, repeat_rows
from openjepa.objectives.normalize import TargetNorm, normalize_targets
from openjepa.objectives.vicreg import VarCovConfig, varcov_loss


@dataclass
class VJepaConfig:
    """V-JEPA settings. ``masks``: the masking configurations drawn for every clip (each gets its own
    encoder pass and mask token). ``context_weight`` > 0 turns on V-JEPA 2.1's dense loss;
    ``deep_layers`` (1-based encoder block indices) its deep supervision. ``predict_change``: the
    predictor's targets are the normalised target features minus those at the same spatial position
    in the first time step (:func:`change_since_first_step`), so what a clip shows at every time
    (background, layout) drops out of the loss and what moves stays. ``flips``: each training clip
    mirrored left-right (``horizontal``, as V-JEPA's clip transform does) or put through a random one of
    the square's 8 symmetries (``dihedral``, for worlds without a preferred up), the same for all frames.
    ``objective``: ``masks`` (the loss over ``masks``) or ``future`` (see the module docstring). ``latent``: the
    predictor's latent variable (kind ``none``: without one). ``varcov``: VICReg's variance and covariance terms on
    the clips' mean-pooled context encodings, which keep the encoders from collapse where the target is not an
    EMA copy, and whatever the target, keep z from being the only thing that tells futures apart."""

    name: Literal["vjepa"] = "vjepa"
    predictor: PredictorConfig = field(default_factory=lambda: PredictorConfig(width=384, depth=12, heads=12))
    masks: list[TubeMaskConfig] = field(default_factory=vjepa_mask_configs)
    target: TargetConfig = field(default_factory=lambda: TargetConfig(momentum=(0.998, 1.0)))
    distance: Distance = "l1"
    target_norm: TargetNorm = "layer"
    context_weight: float = 0.0
    deep_layers: list[int] = field(default_factory=list)
    predict_change: bool = False
    flips: Flips = "none"
    objective: Literal["masks", "future"] = "masks"
    latent: LatentConfig = field(default_factory=LatentConfig)
    varcov: VarCovConfig = field(default_factory=VarCovConfig)

    def validate(self) -> None:
        if self.context_weight < 0:
            raise ValueError(f"method.context_weight must be >= 0, got {self.context_weight}")
        if self.context_weight > 0 and self.latent.kind != "none":
            raise ValueError("method.latent applies to the predictions of masked tokens; V-JEPA 2.1's dense loss "
                             "(context_weight > 0) has none to choose between: set one of them off")
        if not self.masks:
            raise ValueError("method.masks needs at least one masking configuration")


class TubeMaskExtras:
    """Loader extras for V-JEPA: tube masks per sample and configuration, batched and padded."""

    def __init__(self, masker: TubeMasker):
        self.masker = masker

    def __call__(self, seed: int, epoch: int, indices: list[int]) -> dict[str, torch.Tensor]:
        draws: list[list[BlockMasks]] = [self.masker(seed, epoch, i) for i in indices]
        return collate_tube_masks(draws)


def context_weights(grid: tuple[int, ...], ctx_idx: torch.Tensor, tgt_idx: torch.Tensor,
                    tgt_valid: torch.Tensor) -> torch.Tensor:
    """``1 / sqrt(d)`` per context token ``(B, Lc)``, d the grid distance to its nearest valid target token."""
    coords = grid_coords(grid).to(ctx_idx.device).float()
    dist = torch.cdist(coords[ctx_idx], coords[tgt_idx])  # (B, Lc, Lt)
    dist = dist.masked_fill(~tgt_valid[:, None, :], float("inf")).amin(-1)
    return dist.clamp_min(1.0).rsqrt()


def first_step_features(features: torch.Tensor, grid: tuple[int, int, int]) -> torch.Tensor:
    """Token features ``(B, N, D)`` on a ``(T, H, W)`` grid (time-major) -> ``(B, N, D)``: at every token, the
    features of time step 0 at the same spatial position."""
    B, N, D = features.shape
    steps = features.view(B, grid[0], N // grid[0], D)
    return steps[:, :1].expand_as(steps).reshape(B, N, D)


def change_since_first_step(features: torch.Tensor, grid: tuple[int, int, int]) -> torch.Tensor:
    """Token features ``(B, N, D)`` minus :func:`first_step_features`; zero on the first time step."""
    return features - first_step_features(features, grid)


@METHODS.register("vjepa")
class VJepa(PredictionEnergies, Method):
    config_class = VJepaConfig

    def __init__(self, config: VJepaConfig, encoder: ViT, normalize: nn.Module, spec: InputSpec):
        super().__init__()
        depth = len(encoder.blocks)
        if any(not 1 <= layer < depth for layer in config.deep_layers):
            raise ValueError(f"method.deep_layers must lie in [1, {depth - 1}] (the last block is always a target), "
                             f"got {config.deep_layers}")
        self.config = config
        self.normalize = normalize
        self.encoder = encoder
        self.target = TargetEncoder(config.target, encoder)
        self.levels = 1 + len(config.deep_layers)
        self.predictor = MaskTokenPredictor(config.predictor, encoder.width, encoder.grid,
                                            num_mask_tokens=len(config.masks), levels=self.levels)
        self.masker = TubeMasker(config.masks, encoder.grid)
        self.latent = LatentVariable(config.latent, config.predictor.width, encoder.width * self.levels)

    def sample_extras(self) -> TubeMaskExtras:
        return TubeMaskExtras(self.masker)

    def target_features(self, clips: torch.Tensor) -> torch.Tensor:
        """Normalised target features ``(B, N, levels * D)``: the last layer, then each of ``deep_layers``."""
        net = self.target.net
        with torch.set_grad_enabled(self.target.gives_gradients and torch.is_grad_enabled()):
            out = net.encode(net.tokenize(clips), layers=tuple(self.config.deep_layers))
        levels = out if isinstance(out, list) else [out]
        return torch.cat([normalize_targets(h, self.config.target_norm) for h in levels], dim=-1)

    def forward(self, batch: Batch) -> StepOutput:
        cfg = self.config
        if cfg.objective == "future":
            return self.future_step(batch)
        clips = self.normalize(batch["inputs"])
        if cfg.flips != "none":
            clips = random_flips(clips, cfg.flips, torch.Generator().manual_seed(batch["seed"]))
        tokens = self.encoder.tokenize(clips)  # (B, N, D)
        targets = self.target_features(clips)
        final = targets[..., : self.encoder.width]
        if cfg.predict_change:
            targets = change_since_first_step(targets, self.encoder.grid)
        pred_loss = ctx_loss = 0.0
        further: dict[str, list] = {}
        latent_logs: dict[str, torch.Tensor] = {}
        for m in range(len(cfg.masks)):
            ctx_idx, ctx_valid = batch[f"m{m}.ctx_idx"], batch[f"m{m}.ctx_valid"]
            tgt_idx, tgt_valid = batch[f"m{m}.tgt_idx"][:, 0], batch[f"m{m}.tgt_valid"][:, 0]  # (B, Lt)
            context = self.encoder.encode(tokens, ctx_idx, ctx_valid)
            for name, (term, weight) in self.further_terms(context, ctx_idx, ctx_valid, final).items():
                further.setdefault(name, [0.0, weight])[0] += term / len(cfg.masks)
            if cfg.context_weight > 0:
                pred, pred_ctx = self.predictor(context, ctx_idx, tgt_idx[:, None], ctx_valid, tgt_valid[:, None],
                                                mask_index=m, with_context=True)
                distance = token_distance(pred[:, 0].float(), gather_tokens(targets, tgt_idx).float(), cfg.distance)
                weights = context_weights(self.encoder.grid, ctx_idx, tgt_idx, tgt_valid) * ctx_valid
                ctx_distance = token_distance(pred_ctx.float(), gather_tokens(targets, ctx_idx).float(), cfg.distance)
                ctx_loss = ctx_loss + ((ctx_distance * weights).sum(-1) / ctx_valid.sum(-1).clamp_min(1)).mean()
            else:
                problem = self._problem(context, ctx_idx, tgt_idx, targets, m, ctx_valid, tgt_valid,
                                        changes=cfg.predict_change, levels=self.levels)
                choice = free_energy(self.latent, problem)
                distance = choice.energy
                for name, value in choice.logs.items():
                    latent_logs[name] = latent_logs.get(name, 0.0) + value.detach() / len(cfg.masks)
            pred_loss = pred_loss + masked_mean(distance, tgt_valid).mean()
        pred_loss = pred_loss / len(cfg.masks)
        logs = {"pred_loss": pred_loss.detach(), **latent_logs}
        if diagnosing(batch):
            logs.update(token_std=token_std(final), rankme=rankme(final.mean(1)))
        loss = pred_loss
        if cfg.context_weight > 0:
            ctx_loss = ctx_loss / len(cfg.masks)
            loss = loss + cfg.context_weight * ctx_loss
            logs["context_loss"] = ctx_loss.detach()
        for name, (term, weight) in further.items():
            loss = loss + weight * term
            logs[name] = term.detach()
        return StepOutput(loss, logs)

    def further_terms(self, context: torch.Tensor, ctx_idx: torch.Tensor, ctx_valid: torch.Tensor | None,
                      targets: torch.Tensor) -> dict[str, tuple[torch.Tensor, float]]:
        """Loss terms on one mask's context encoding ``(B, Lc, D)`` (at ``ctx_idx``) and the normalised
        final-layer target features ``(B, N, D)``: name -> (term, its weight in the loss). Here ``varcov`` on the
        mean-pooled context when its weight is > 0; subclasses add theirs."""
        if self.config.varcov.weight <= 0:
            return {}
        pooled = masked_mean(context.transpose(1, 2), None if ctx_valid is None else ctx_valid[:, None])
        return {"varcov": (varcov_loss(pooled.float(), self.config.varcov), self.config.varcov.weight)}

    def future_step(self, batch: Batch) -> StepOutput:
        """``objective: future``: the mean (free) energy of predicting the second half of each clip from the first."""
        clips = self.normalize(batch["inputs"])
        grid = self.encoder.grid
        ctx, tgt = (ids.to(clips.device) for ids in future_split(grid, grid[0] // 2))
        ctx_idx, tgt_idx = ctx.expand(len(clips), -1), tgt.expand(len(clips), -1)
        targets = self.target_features(clips)
        context = self.encoder.encode(self.encoder.tokenize(clips), ctx_idx)
        choice = free_energy(self.latent, self._problem(context, ctx_idx, tgt_idx, targets))
        loss = choice.energy.mean()
        logs = {"future_loss": loss.detach(), **choice.logs}
        final = targets[..., : self.encoder.width]
        for name, (term, weight) in self.further_terms(context, ctx_idx, None, final).items():
            loss = loss + weight * term
            logs[name] = term.detach()
        return StepOutput(loss, logs)

    def _problem(self, context: torch.Tensor, ctx_idx: torch.Tensor, tgt_idx: torch.Tensor, targets: torch.Tensor,
                 mask_index: int | None = None, ctx_valid: torch.Tensor | None = None,
                 tgt_valid: torch.Tensor | None = None, changes: bool = False, levels: int = 1) -> PredictionProblem:
        """The prediction of the tokens ``tgt_idx (B, Lt)`` (real where ``tgt_valid``) from the context encoding
        ``context (B, Lc, D)`` at ``ctx_idx``, scored against the last layer of ``targets``, the clips' normalised
        target features ``(B, N, levels * D)``. Under ``predict_change`` the predictions are changes since step 0:
        ``changes`` says ``targets`` are too; otherwise step 0's features are added to the predictions.
        ``mask_index``: the mask token (default: the ``future`` one); ``levels``: score that many of the target
        levels (the last layer, then ``deep_layers``)."""
        B, Lt = tgt_idx.shape
        width = self.encoder.width * levels
        mask_index = self.future_mask_index() if mask_index is None else mask_index
        first = None
        if self.config.predict_change and not changes:
            first = gather_tokens(first_step_features(targets[..., :width], self.encoder.grid), tgt_idx)

        def predict(z: torch.Tensor | None) -> torch.Tensor:
            R = 1 if z is None else z.shape[1]
            pred = self.predictor(repeat_rows(context, R), repeat_rows(ctx_idx, R), repeat_rows(tgt_idx, R)[:, None],
                                  repeat_rows(ctx_valid, R), repeat_rows(tgt_valid, R)[:, None]
                                  if tgt_valid is not None else None, mask_index=mask_index,
                                  condition=self.latent.condition(z))[:, 0, :, :width]
            if first is not None:
                pred = pred + repeat_rows(first, R)
            return pred.view(B, R, Lt, width)

        return PredictionProblem(predict, gather_tokens(targets[..., :width], tgt_idx), self.config.distance,
                                 tgt_valid)

    def prediction_problem(self, clips: torch.Tensor, ctx_idx: torch.Tensor, tgt_idx: torch.Tensor,
                           targets: torch.Tensor | None = None) -> PredictionProblem:
        """The prediction, from the context encoder's view of the tokens at ``ctx_idx (B, Lc)`` of normalised clips
        ``(B, C, T, H, W)``, of the target encoder's normalised features at ``tgt_idx (B, Lt)`` (``targets``: the
        clips' ``target_features`` when the caller has them already), with the ``future`` mask token when the
        recipe has one. With ``predict_change`` the predicted change is added to the target features at the same
        spatial position in time step 0."""
        if targets is None:
            with torch.no_grad():
                targets = self.target_features(clips)
        context = self.encoder.encode(self.encoder.tokenize(clips), ctx_idx)
        return self._problem(context, ctx_idx, tgt_idx, targets)

    @property
    def predicts_change(self) -> bool:
        return self.config.predict_change

    def future_mask_index(self) -> int:
        """The mask token of the first ``future`` masking configuration (0 if there is none)."""
        return next((m for m, c in enumerate(self.config.masks) if c.kind == "future"), 0)

    def after_step(self, step: int, total_steps: int) -> dict[str, float]:
        m = self.target.update(self.encoder, step, total_steps)
        return {} if m is None else {"momentum": m}

    def eval_encoder(self, which: str = "target") -> ViT:
        return self.target.net if which == "target" else self.encoder
