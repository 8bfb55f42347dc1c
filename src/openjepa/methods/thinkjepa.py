"""ThinkJEPA: a slow "thinker" stream that has seen the whole history guides a fast dense predictor through
per-layer FiLM, to forecast a tracked agent's future.

Dense stream: the run's encoder, frozen (a random-init ViT on the built-in recipe; another run's trained encoder
with ``--encoder RUN``: a video, world-model or image run whose frames have the data's size), reads each of the last
``dense_window`` observed frames on its own; a frame's latent is all its tokens, layer-normed and flattened. A causal
forecaster (:class:`~openjepa.nn.forecaster.CausalForecaster`) reads them and one query per future frame, and gives
the agent's position at every frame and the future frames' latents.

Thinker stream: a frozen encoder (its own, ``thinker.source: own``, random init here, where the paper has a
vision-language model; or the run's, ``thinker.source: encoder``) reads ``thinker.frames`` frames spread over every
observed frame, the first ones included; an MLP reads all their tokens into one state per sample, and per-layer
linear maps of it FiLM the forecaster's layers through tanh gates that start at 0 (:mod:`openjepa.nn.film`), so the
guided forecaster starts as an unguided one. Guidance is per sample: unlike the reference code, whose guidance has no
batch axis, every sample gets its own.

Loss: the task term (``task_loss`` between the predicted and true positions at every frame the forecaster reads or
forecasts) plus ``latent_weight`` times the latent term (``latent_loss`` between the predicted future latents and the
frozen encoder's latents of the future frames). Two ablations train in the same run, on the same batches, from their
own parameters: ``dense_only`` (the same forecaster without guidance) and ``thinker_only`` (the same forecaster over
the thinker's frames alone); the loss is the sum of the three, so each learns as if alone (bar the shared gradient
clipping). Only the forecasters and the thinker's pooling learn.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from openjepa.core.protocols import Batch, Method, StepOutput
from openjepa.core.spec import InputSpec
from openjepa.methods.registry import METHODS
from openjepa.modalities.registry import MODALITIES
from openjepa.nn.block import MLP
from openjepa.nn.forecaster import CausalForecaster, ForecasterConfig
from openjepa.nn.normalize import Normalize
from openjepa.nn.vit import ViT, ViTConfig
from openjepa.objectives.distances import Distance, token_distance


@dataclass
class ThinkerConfig:
    """The slow stream. ``source``: ``own``, a frozen encoder of its own built from ``encoder`` (random init: a
    stand-in for the paper's frozen vision-language model; the pooling reads every token of its frames, so even a
    random one tells which marker is lit); ``encoder``, the run's frozen encoder (another run's with ``--encoder
    RUN``); or ``run``, the encoder of the openjepa run (VL-JEPA, video, image or world-model) or HF I-JEPA /
    V-JEPA 2 folder at ``run``, frozen, whose settings, input spec and normalisation (``spec``, ``mean``, ``std``)
    are copied in when the run starts. ``frames``: frames read, spread evenly over every observed frame, the first
    and the last included. ``width``: the size of the pooled thinker state the FiLM maps read."""

    source: Literal["own", "encoder", "run"] = "own"
    frames: int = 4
    width: int = 128
    encoder: ViTConfig = field(default_factory=lambda: ViTConfig(patch_size=8, width=64, depth=2, heads=4))
    run: str | None = None
    spec: InputSpec | None = None
    mean: list[float] | None = None
    std: list[float] | None = None

    def validate(self) -> None:
        self.encoder.validate()
        if min(self.frames, self.width) < 1:
            raise ValueError(f"method.thinker.frames and width must be >= 1, got {self.frames}, {self.width}")
        if (self.source == "run") != bool(self.run):
            raise ValueError("method.thinker.run (a run or HF folder) is needed exactly when method.thinker.source "
                             f"is run; got source {self.source} and run {self.run}")


@dataclass
class ThinkJepaConfig:
    """``dense_window``: the last observed frames the dense stream reads. ``predictor``: the three forecasters'
    shape. ``task_loss``: ``l1`` or ``l2`` (squared) between positions; ``latent_loss``: the distance between
    latents, weighted by ``latent_weight``."""

    name: Literal["thinkjepa"] = "thinkjepa"
    dense_window: int = 8
    predictor: ForecasterConfig = field(default_factory=ForecasterConfig)
    thinker: ThinkerConfig = field(default_factory=ThinkerConfig)
    task_loss: Literal["l1", "l2"] = "l1"
    latent_loss: Distance = "l1"
    latent_weight: float = 1.0

    def validate(self) -> None:
        self.predictor.validate()
        self.thinker.validate()
        if self.dense_window < 1:
            raise ValueError(f"method.dense_window must be >= 1 frame, got {self.dense_window}")
        if self.latent_weight < 0:
            raise ValueError(f"method.latent_weight must be >= 0, got {self.latent_weight}")


def spread(count: int, frames: int) -> list[int]:
    """``count`` frame indices spread evenly over ``frames`` frames, the first and the last included."""
    return np.floor(np.linspace(0, frames - 1, count) + 0.5).astype(int).tolist()


def latent_dim(encoder: ViT) -> int:
    """Size of a frame's flattened tokens: tokens per frame times width."""
    patch = encoder.config.patch_size
    return (encoder.image_size[0] // patch) * (encoder.image_size[1] // patch) * encoder.width


@METHODS.register("thinkjepa")
class ThinkJepa(Method):
    config_class = ThinkJepaConfig
    eval_tasks = ("forecast",)

    def __init__(self, config: ThinkJepaConfig, encoder: ViT, normalize: nn.Module, spec: InputSpec):
        super().__init__()
        config.validate()
        if spec.reader is None or "observed" not in spec.reader:
            raise ValueError("ThinkJEPA forecasts tracked clips: data.modality must be tracks")
        observed = spec.reader["observed"]
        for key, value in (("dense_window", config.dense_window), ("thinker.frames", config.thinker.frames)):
            if value > observed:
                raise ValueError(f"method.{key}={value} exceeds the {observed} observed frames (data.observed)")
        cue = spec.reader.get("cue_frames", 0)
        if config.dense_window > observed - cue:
            raise ValueError(f"method.dense_window={config.dense_window} reaches the first {cue} frames, which alone "
                             f"show the goal: the dense stream must see at most the last {observed - cue} frames")
        self.config, self.normalize, self.observed, self.horizon = config, normalize, observed, spec.frames - observed
        self.encoder = encoder.requires_grad_(False).eval()
        self.thinker, self.thinker_normalize = None, normalize
        if config.thinker.source != "encoder":
            thinker = config.thinker
            frame = thinker.spec or InputSpec(channels=spec.channels, size=spec.size)
            modality = MODALITIES.get(frame.modality)()
            self.thinker = modality.build_encoder(thinker.encoder, frame).requires_grad_(False).eval()
            if thinker.mean is not None and thinker.std is not None:
                self.thinker_normalize = Normalize(thinker.mean, thinker.std)
        dense_dim, thinker_dim = latent_dim(self.encoder), latent_dim(self.thinker_encoder)
        self.register_buffer("window_times", torch.arange(observed - config.dense_window, observed), persistent=False)
        self.register_buffer("future_times", torch.arange(observed, spec.frames), persistent=False)
        self.register_buffer("thinker_times", torch.tensor(spread(config.thinker.frames, observed)), persistent=False)
        self.pool = MLP(config.thinker.frames * thinker_dim, config.thinker.width, config.thinker.width)
        self.predictor = CausalForecaster(config.predictor, dense_dim, spec.frames, guidance_dim=config.thinker.width)
        self.dense_only = CausalForecaster(config.predictor, dense_dim, spec.frames)
        self.thinker_only = CausalForecaster(config.predictor, thinker_dim, spec.frames, out_dim=dense_dim)

    @classmethod
    def frozen_sources(cls, config: ThinkJepaConfig) -> dict[str, str]:
        return {"thinker": config.thinker.run} if config.thinker.source == "run" else {}

    @classmethod
    def take_frozen(cls, config: ThinkJepaConfig, name: str, encoder: ViTConfig, spec: InputSpec,
                    normalisation: tuple[list[float], list[float]]) -> None:
        config.thinker.encoder, config.thinker.spec = encoder, spec
        config.thinker.mean, config.thinker.std = normalisation

    def frozen_source(self, name: str) -> ViT:
        return self.thinker

    @property
    def thinker_encoder(self) -> ViT:
        return self.encoder if self.thinker is None else self.thinker

    def train(self, mode: bool = True) -> ThinkJepa:
        super().train(mode)
        self.encoder.eval()  # frozen: no dropout or statistics updates, whatever the trainer asks
        self.thinker_encoder.eval()
        return self

    @torch.no_grad()
    def latents(self, encoder: ViT, clips: torch.Tensor, times: torch.Tensor,
                normalize: nn.Module | None = None) -> torch.Tensor:
        """The frames at ``times`` of clips ``(B, C, T, H, W)`` in [0, 1], each encoded on its own (normalised by
        ``normalize``, default the run's): tokens layer-normed and flattened, ``(B, len(times), N * D)``."""
        frames = (normalize or self.normalize)(clips.index_select(2, times)).transpose(1, 2).flatten(0, 1)
        tokens = encoder(encoder.as_input(frames))
        return F.layer_norm(tokens, tokens.shape[-1:]).flatten(1).unflatten(0, (len(clips), len(times)))

    def forecasters(self, clips: torch.Tensor) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """Each forecaster's positions ``(B, L + horizon, 2)`` at the frames it reads and forecasts and future
        latents ``(B, horizon, Dz)``, by name: ``trained`` (guided), ``dense_only``, ``thinker_only``."""
        dense = self.latents(self.encoder, clips, self.window_times)
        thought = self.latents(self.thinker_encoder, clips, self.thinker_times, self.thinker_normalize)
        future = self.future_times
        return {"trained": self.predictor(dense, self.window_times, future, self.pool(thought.flatten(1))),
                "dense_only": self.dense_only(dense, self.window_times, future),
                "thinker_only": self.thinker_only(thought, self.thinker_times, future)}

    def forward(self, batch: Batch) -> StepOutput:
        cfg = self.config
        clips, positions = batch["inputs"], batch["positions"]  # (B, C, T, H, W), (B, T, 2)
        target = self.latents(self.encoder, clips, self.future_times).float()
        loss, logs = 0.0, {}
        for name, (where, latents) in self.forecasters(clips).items():
            times = torch.cat([self.thinker_times if name == "thinker_only" else self.window_times, self.future_times])
            truth = positions[:, times]
            task = token_distance(where.float(), truth, cfg.task_loss).mean()
            latent = token_distance(latents.float(), target, cfg.latent_loss).mean()
            loss = loss + task + cfg.latent_weight * latent
            prefix = "" if name == "trained" else f"{name}_"
            logs |= {f"{prefix}task_loss": task.detach(), f"{prefix}latent_loss": latent.detach(),
                     f"{prefix}fde": (where[:, -1].float() - truth[:, -1]).norm(dim=-1).mean().detach()}
        logs["gate"] = self.predictor.guidance.gate_openness().detach()
        return StepOutput(loss, logs)

    @torch.no_grad()
    def forecast(self, clips: torch.Tensor) -> dict[str, torch.Tensor]:
        """Positions ``(B, horizon, 2)`` after the observed frames of clips ``(B, C, T, H, W)`` in [0, 1], by
        forecaster: ``trained`` (guided), ``dense_only``, ``thinker_only``."""
        return {name: where[:, -self.horizon :] for name, (where, _) in self.forecasters(clips).items()}

    def eval_encoder(self, which: str = "target") -> ViT:
        return self.encoder
