"""MC-JEPA: one encoder learns motion (optical flow between consecutive frames) and content (invariance across
views of a frame) at once.

Each frame is encoded on its own; a :class:`~openjepa.nn.pyramid.TokenPyramid` turns its tokens into a feature
pyramid and a :class:`~openjepa.nn.flow_head.FlowHead` estimates the flow coarse to fine, both ways. Flow terms:
the first frame's features regressed onto the second's warped by the flow, at every level (the JEPA part: one
embedding predicts another through a latent, the flow); photometric, on the pixels (occlusions left out) and on
the frames area-averaged to each level's grid (coarse levels see blurred edges, whose pull reaches further); edge-aware
smoothness; forward-backward cycle; VICReg's variance and covariance on every level's features, which keep the
regression from collapsing them. Content: VICReg between two augmented views of a frame, through an expander.
No masking and no EMA target, as in the paper; its ConvNeXt encoder is replaced by the run's ViT.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from openjepa.core.protocols import Batch, Method, StepOutput
from openjepa.core.spec import InputSpec
from openjepa.data.augment import ViewConfig, random_view
from openjepa.methods.registry import METHODS
from openjepa.nn.flow_head import FlowHead, FlowHeadConfig
from openjepa.nn.flow_ops import warp
from openjepa.nn.projector import ProjectorConfig, build_projector
from openjepa.nn.pyramid import PyramidConfig, TokenPyramid
from openjepa.objectives.diagnostics import diagnosing, rankme, token_std
from openjepa.objectives.flow_losses import cycle_loss, occluded, photometric_loss, smoothness_loss
from openjepa.objectives.vicreg import VarCovConfig, varcov_loss, vicreg_loss


@dataclass
class McJepaConfig:
    """Loss weights: ``feature`` (regression after warping, mean over levels), ``photometric``, ``smoothness``,
    ``cycle``; ``varcov`` on each level's features; ``content`` on the two views' VICReg (``vicreg``: its
    invariance, variance and covariance weights) through the ``projector``."""

    name: Literal["mcjepa"] = "mcjepa"
    pyramid: PyramidConfig = field(default_factory=lambda: PyramidConfig(levels=3, width=64))
    flow_head: FlowHeadConfig = field(default_factory=FlowHeadConfig)
    feature: float = 0.1
    photometric: float = 1.0
    smoothness: float = 0.1
    cycle: float = 0.02
    varcov: VarCovConfig = field(default_factory=lambda: VarCovConfig(weight=0.01))
    content: float = 0.01
    vicreg: tuple[float, float, float] = (25.0, 25.0, 1.0)
    view: ViewConfig = field(default_factory=lambda: ViewConfig(scale=(0.4, 1.0)))
    projector: ProjectorConfig = field(default_factory=lambda: ProjectorConfig(hidden=512, out=512))

    def validate(self) -> None:
        weights = (self.feature, self.photometric, self.smoothness, self.cycle, self.content, *self.vicreg)
        if min(weights) < 0:
            raise ValueError(f"mcjepa's loss weights must be >= 0, got {weights}")
        self.pyramid.validate()
        if self.pyramid.patch_level != "lateral":
            raise ValueError("mcjepa's flow head reads every level at method.pyramid.width: "
                             "method.pyramid.patch_level must be lateral")
        self.flow_head.validate()
        self.varcov.validate()


def level_features(maps: list[torch.Tensor]) -> list[torch.Tensor]:
    """A pyramid's maps ``(B, h, w, C)``, finest first -> ``(B, C, h, w)``, coarsest first (the flow head's
    order)."""
    return [m.permute(0, 3, 1, 2) for m in reversed(maps)]


def coarse_photometric(first: torch.Tensor, second: torch.Tensor, flows: list[torch.Tensor]) -> torch.Tensor:
    """Mean over levels of the photometric loss of frames ``(B, C, H, W)`` area-averaged to each level's grid,
    under that level's flow ``(B, 2, h_l, w_l)`` (in cells)."""
    return torch.stack([photometric_loss(F.adaptive_avg_pool2d(first, f.shape[-2:]),
                                         F.adaptive_avg_pool2d(second, f.shape[-2:]), f) for f in flows]).mean()


@METHODS.register("mcjepa")
class McJepa(Method):
    config_class = McJepaConfig
    eval_tasks = ("motion_content",)

    def __init__(self, config: McJepaConfig, encoder: nn.Module, normalize: nn.Module, spec: InputSpec):
        super().__init__()
        if spec.frames is None or spec.frames < 2:
            raise ValueError("mcjepa learns flow between consecutive frames: the data must be clips of >= 2 frames")
        self.config, self.encoder, self.normalize = config, encoder, normalize
        grid = encoder.patch_embed.grid(1, *spec.size)[-2:]
        self.pyramid = TokenPyramid(config.pyramid, encoder.width, grid)
        self.flow_head = FlowHead(config.flow_head, config.pyramid.width, config.pyramid.levels,
                                  encoder.patch_embed.patch_size, spec.channels)
        self.projector = build_projector(config.projector, encoder.width)

    def frame_tokens(self, frames: torch.Tensor) -> torch.Tensor:
        """Frames ``(B, C, H, W)`` in [0, 1], each encoded on its own -> tokens ``(B, h * w, D)``."""
        return self.encoder(self.normalize(frames)[:, :, None])

    def frame_pyramid(self, frames: torch.Tensor) -> list[torch.Tensor]:
        """Frames ``(B, C, H, W)`` in [0, 1] -> their pyramid, coarsest level first, ``(B, width, h_l, w_l)``."""
        return level_features(self.pyramid(self.frame_tokens(frames))[0])

    def flow(self, first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
        """Pixel flow ``(B, 2, H, W)`` from frames ``first`` to ``second`` ``(B, C, H, W)`` in [0, 1]."""
        return self.flow_head(self.frame_pyramid(first), self.frame_pyramid(second), (first, second))[1]

    def forward(self, batch: Batch) -> StepOutput:
        cfg = self.config
        clips = batch["inputs"]
        B, T = clips.shape[0], clips.shape[2]
        gen = torch.Generator().manual_seed(batch["seed"])
        t = torch.randint(0, T - 1, (B,), generator=gen).to(clips.device)
        rows = torch.arange(B, device=clips.device)
        first, second = clips[rows, :, t], clips[rows, :, t + 1]
        maps = self.frame_pyramid(torch.cat([first, second]))
        a, b = [m[:B] for m in maps], [m[B:] for m in maps]
        forward_levels, forward = self.flow_head(a, b, (first, second))
        backward_levels, backward = self.flow_head(b, a, (second, first))
        hidden_forward, hidden_backward = occluded(forward, backward), occluded(backward, forward)
        photometric = (photometric_loss(first, second, forward, ~hidden_forward)
                       + photometric_loss(second, first, backward, ~hidden_backward)
                       + coarse_photometric(first, second, forward_levels)
                       + coarse_photometric(second, first, backward_levels)) / 4
        smoothness = (smoothness_loss(forward, first) + smoothness_loss(backward, second)) / 2
        cycle = (cycle_loss(forward, backward) + cycle_loss(backward, forward)) / 2
        feature = torch.stack([((fa - warp(fb, ff)).square().mean() + (fb - warp(fa, fw)).square().mean()) / 2
                               for fa, fb, ff, fw in zip(a, b, forward_levels, backward_levels)]).mean()
        varcov = torch.stack([varcov_loss(m.permute(0, 2, 3, 1).reshape(-1, m.shape[1]).float(), cfg.varcov)
                              for m in maps]).mean()
        views = torch.cat([random_view(first, cfg.view, gen), random_view(first, cfg.view, gen)])
        pooled = self.frame_tokens(views).mean(1)
        z = self.projector(pooled).float()
        content = vicreg_loss(z[:B], z[B:], sim=cfg.vicreg[0], var=cfg.vicreg[1], cov=cfg.vicreg[2])
        loss = (cfg.feature * feature + cfg.photometric * photometric + cfg.smoothness * smoothness
                + cfg.cycle * cycle + cfg.varcov.weight * varcov + cfg.content * content)
        logs = {"feature": feature.detach(), "photometric": photometric.detach(), "smoothness": smoothness.detach(),
                "cycle": cycle.detach(), "varcov": varcov.detach(), "content": content.detach(),
                "occluded": hidden_forward.float().mean(), "flow_px": forward.detach().norm(dim=1).mean()}
        if diagnosing(batch):
            logs.update(token_std=token_std(pooled), rankme=rankme(pooled))
        return StepOutput(loss, logs)

    def eval_encoder(self, which: str = "target") -> nn.Module:
        return self.encoder
