"""LeJEPA: views of an image agree on their embedding; SIGReg keeps the embeddings isotropic Gaussian.

Loss = (1 - λ) * mean_v ||mean_g(z_g) - z_v||^2 + λ * mean_v SIGReg(z_v), where z
are projected, mean-pooled encoder features of every view v and g runs over the
global views. One network, no predictor, no EMA.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import nn

from openjepa.core.protocols import Batch, Method, StepOutput
from openjepa.core.spec import InputSpec
from openjepa.data.augment import ViewConfig, random_view
from openjepa.methods.registry import METHODS
from openjepa.nn.projector import ProjectorConfig, build_projector
from openjepa.nn.vit import ViT
from openjepa.objectives.diagnostics import diagnosing, rankme, token_std
from openjepa.objectives.sigreg import SIGRegConfig, sigreg


@dataclass
class LeJepaConfig:
    name: Literal["lejepa"] = "lejepa"
    global_views: int = 2
    local_views: int = 6
    global_view: ViewConfig = field(default_factory=lambda: ViewConfig(scale=(0.3, 1.0)))
    local_view: ViewConfig = field(default_factory=lambda: ViewConfig(size=96, scale=(0.05, 0.3)))
    projector: ProjectorConfig = field(default_factory=ProjectorConfig)
    sigreg: SIGRegConfig = field(default_factory=lambda: SIGRegConfig(weight=0.05, slices=1024))

    def validate(self) -> None:
        if self.global_views < 1 or self.local_views < 0:
            raise ValueError("lejepa needs global_views >= 1 and local_views >= 0")
        if not 0 < self.sigreg.weight < 1:
            raise ValueError(f"lejepa's sigreg.weight is λ in (1-λ)·inv + λ·SIGReg and must lie in (0, 1), "
                             f"got {self.sigreg.weight}")


@METHODS.register("lejepa")
class LeJepa(Method):
    config_class = LeJepaConfig

    def __init__(self, config: LeJepaConfig, encoder: ViT, normalize: nn.Module, spec: InputSpec):
        super().__init__()
        self.config = config
        self.normalize = normalize
        self.encoder = encoder
        self.projector = build_projector(config.projector, encoder.width)
        patch = encoder.patch_embed.patch_size
        for kind, view in (("global", config.global_view), ("local", config.local_view)):
            size = view.size or encoder.image_size[0]
            if size % patch:
                raise ValueError(f"method.{kind}_view.size {size} is not a multiple of the patch size {patch}")

    def _embed(self, views: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Views of one size -> tokens ``(V*B, N, D)`` and pooled features ``(V*B, D)``."""
        tokens = self.encoder(self.normalize(torch.cat(views)))
        return tokens, tokens.mean(1)

    def forward(self, batch: Batch) -> StepOutput:
        cfg = self.config
        images = batch["inputs"]
        gen = torch.Generator().manual_seed(batch["seed"])
        globals_ = [random_view(images, cfg.global_view, gen) for _ in range(cfg.global_views)]
        locals_ = [random_view(images, cfg.local_view, gen) for _ in range(cfg.local_views)]
        tokens, pooled = self._embed(globals_)
        if locals_:
            pooled = torch.cat([pooled, self._embed(locals_)[1]])
        B = images.shape[0]
        z = self.projector(pooled).float().reshape(cfg.global_views + cfg.local_views, B, -1)  # (V, B, P)
        center = z[: cfg.global_views].mean(0)
        invariance = (center - z).square().mean()
        reg = torch.stack([
            sigreg(view, seed=batch["step"], slices=cfg.sigreg.slices, knots=cfg.sigreg.knots, t_max=cfg.sigreg.t_max)
            for view in z
        ]).mean()
        lam = cfg.sigreg.weight
        loss = (1 - lam) * invariance + lam * reg
        first = tokens[:B]
        logs = {"invariance": invariance.detach(), "sigreg": reg.detach()}
        if diagnosing(batch):
            logs.update(token_std=token_std(first), rankme=rankme(first.mean(1)))
        return StepOutput(loss, logs)

    def eval_encoder(self, which: str = "target") -> ViT:
        return self.encoder
