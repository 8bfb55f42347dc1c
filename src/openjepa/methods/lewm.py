"""LeWorldModel: an end-to-end pixel world model with two losses and no EMA.

A frame encoder (ViT, mean-pooled, then a BatchNorm projector) maps each frame to a
latent z; an action-conditioned causal predictor (AdaLN-zero) maps the latents of a
frame history and the actions taken to the next latent. Loss: the predictor's error
on the next latent (teacher-forced), optionally the error of an auto-regressive
rollout over the whole window (what makes multi-step plans trustworthy), plus
λ·SIGReg on the latents of every time step, which keeps them from collapsing; the
gradients of the prediction loss reach both sides (no stop-gradient).
Actions are chunks: with frameskip k one model step takes the k environment actions
that follow its frame, concatenated (``action_dim = k x env action size``).
``latent`` gives the predictor a latent variable z (:mod:`openjepa.nn.latent`): what moved the agent that the
actions do not say (a push). Every teacher-forced prediction takes its z of least energy, so the prediction loss is
the free energy F = min_z E; the rollout loss replays, step by step, the z chosen for that step; planning takes
the minimum over z at every rolled step (``plan.latent``, :mod:`openjepa.control.mpc`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from openjepa.control.mpc import PlanConfig
from openjepa.core.protocols import Batch, Method, StepOutput
from openjepa.core.spec import InputSpec
from openjepa.methods.registry import METHODS
from openjepa.nn.action_predictor import ActionPredictor, ActionPredictorConfig
from openjepa.nn.latent import LatentConfig, LatentVariable
from openjepa.nn.projector import ProjectorConfig, build_projector
from openjepa.nn.vit import ViT
from openjepa.objectives.diagnostics import diagnosing, rankme
from openjepa.objectives.energy import PredictionProblem, free_energy, repeat_rows
from openjepa.objectives.sigreg import SIGRegConfig, sigreg


@dataclass
class LeWorldModelConfig:
    """``rollout_weight``: weight of the auto-regressive rollout loss over the window. ``plan``: how ``openjepa
    plan`` plans with the model. ``latent``: the predictor's latent variable (kind ``none``: without one). The
    predictor's action size (env action size x frameskip) comes from the data's spec."""

    name: Literal["lewm"] = "lewm"
    predictor: ActionPredictorConfig = field(default_factory=ActionPredictorConfig)
    projector: ProjectorConfig = field(default_factory=lambda: ProjectorConfig(hidden=512, out=64, layers=2))
    sigreg: SIGRegConfig = field(default_factory=lambda: SIGRegConfig(weight=0.09))
    rollout_weight: float = 1.0
    plan: PlanConfig = field(default_factory=PlanConfig)
    latent: LatentConfig = field(default_factory=LatentConfig)

    def validate(self) -> None:
        self.predictor.validate()
        self.latent.validate()
        if self.rollout_weight < 0:
            raise ValueError(f"method.rollout_weight must be >= 0, got {self.rollout_weight}")


@METHODS.register("lewm")
class LeWorldModel(Method):
    config_class = LeWorldModelConfig
    eval_tasks = ("world_state",)
    reads_state = False

    def __init__(self, config: LeWorldModelConfig, encoder: ViT, normalize: nn.Module, spec: InputSpec):
        super().__init__()
        config.validate()
        if encoder.reads_clips:
            raise ValueError("LeWorldModel encodes frames one by one: use an image encoder (no encoder.tubelet)")
        if spec.action_dim is None:
            raise ValueError("LeWorldModel trains on trajectories with actions: data.modality must be trajectory")
        self.config = config
        self.normalize = normalize
        self.encoder = encoder
        self.projector = build_projector(config.projector, encoder.width)
        self.latent_dim = config.projector.out
        self.predictor = ActionPredictor(config.predictor, self.latent_dim, spec.action_dim)
        self.latent = LatentVariable(config.latent, config.predictor.width, self.latent_dim)

    @property
    def history(self) -> int:
        return self.config.predictor.history

    @property
    def plan_config(self) -> PlanConfig:
        return self.config.plan

    def pooled(self, images: torch.Tensor) -> torch.Tensor:
        """The encoder's mean-pooled tokens of images ``(B, C, H, W)`` in [0, 1], before the projector: ``(B, D)``."""
        return self.encoder(self.normalize(images)).mean(1)

    def embed(self, frames: torch.Tensor) -> torch.Tensor:
        """Latents of frames in [0, 1]: images ``(B, C, H, W) -> (B, Dz)``, clips ``(B, C, T, H, W) -> (B, T, Dz)``."""
        if frames.ndim == 4:
            return self.projector(self.pooled(frames))
        if frames.ndim != 5:
            raise ValueError(f"frames must be (B, C, H, W) or (B, C, T, H, W), got {tuple(frames.shape)}")
        B, C, T, H, W = frames.shape
        flat = frames.transpose(1, 2).reshape(B * T, C, H, W)
        return self.embed(flat).reshape(B, T, -1)

    def rollout(self, z: torch.Tensor, actions: torch.Tensor, latents: torch.Tensor | None = None) -> torch.Tensor:
        """Predicted latents ``(B, H, Dz)`` after ``H`` planned steps.

        ``z``: the current latent ``(B, Dz)`` or a history ``(B, h, Dz)`` ending at the current one;
        ``actions (B, h - 1 + H, A)``: the actions taken after each history latent but the last, then
        the ``H`` planned ones. An action only ever changes the predictions after it. ``latents (B, H, dim)``: the
        latent variable's z at each step; without them a step predicts as :meth:`next_latent` does.
        """
        z = z[:, None] if z.ndim == 2 else z
        h = z.shape[1]
        steps = actions.shape[1] - (h - 1)
        if steps < 1:
            raise ValueError(f"a history of {h} latents needs {h - 1} past actions plus at least one planned; "
                             f"got actions {tuple(actions.shape)}")
        if latents is not None and (not self.latent.active or latents.shape[:2] != (len(z), steps)):
            raise ValueError(f"latents must be (B, H, dim) = ({len(z)}, {steps}, dim) for a model with "
                             f"method.latent (kind {self.latent.kind}), got {tuple(latents.shape)}")
        seq = list(z.unbind(1))
        for k in range(steps):
            end = h + k  # latents so far; the newest is seq[end - 1], its action actions[:, end - 1]
            start = max(0, end - self.history)
            window = torch.stack(seq[start:end], 1)
            seq.append(self.next_latent(window, actions[:, start:end], None if latents is None else latents[:, k]))
        return torch.stack(seq[h:], 1)

    def next_latent(self, window: torch.Tensor, actions: torch.Tensor,
                    latent: torch.Tensor | None = None) -> torch.Tensor:
        """The latent ``(B, Dz)`` predicted after a window ``(B, W, Dz)``, ``W <= history``, and the actions after
        each of its latents ``(B, W, A)``, under the latent variable's ``latent (B, dim)``. Without one: the mean
        of the predictions under its candidates (every code of a discrete z, the expected next latent when the
        codes are equally likely; z = 0, the sparse prior's mode, for a continuous one), or the plain prediction
        when the model has no latent variable."""
        if latent is None and self.latent.active:
            return self._predict(window, actions, self.latent.candidates(len(window), window.device)).mean(1)
        return self._predict(window, actions, None if latent is None else latent[:, None])[:, 0]

    def transition_problem(self, history: torch.Tensor, actions: torch.Tensor,
                           next_latents: torch.Tensor) -> PredictionProblem:
        """E(x, y, z) of a transition: x the latents ``history (B, h, Dz)`` (``h <= history``) and the actions
        taken after each ``(B, h, A)``, y the latent observed next ``next_latents (B, Dz)``; one target token
        (L = 1), scored by the training loss's squared error (``l2``)."""
        return PredictionProblem(lambda z: self._predict(history, actions, z)[:, :, None], next_latents[:, None], "l2")

    def _predict(self, window: torch.Tensor, actions: torch.Tensor, z: torch.Tensor | None) -> torch.Tensor:
        """The predictions ``(B, R, Dz)`` after ``window (B, W, Dz)`` and ``actions (B, W, A)`` under latents
        ``z (B, R, dim)`` (None: without z, R = 1)."""
        R = 1 if z is None else z.shape[1]
        pred = self.predictor(repeat_rows(window, R), repeat_rows(actions, R), condition=self.latent.condition(z))
        return pred[:, -1].view(len(window), R, -1)

    def forward(self, batch: Batch) -> StepOutput:
        cfg = self.config
        frames, actions = batch["inputs"], batch["actions"]  # (B, C, T, H, W), (B, T, A)
        T, h = frames.shape[2], self.history
        if T <= h:
            raise ValueError(f"training windows of {T} frames leave nothing to predict after a history of {h}; "
                             f"set data.frames > {h}")
        z = self.embed(frames)  # (B, T, Dz)
        target = z[:, h:]
        windows, acts = self.predictor.windows(z[:, :-1], actions[:, :-1])  # (B (T - h), h, Dz), (B (T - h), h, A)
        choice = free_energy(self.latent, self.transition_problem(windows, acts, target.flatten(0, 1)))
        pred_loss = choice.energy.mean()
        loss, logs = pred_loss, {"pred_loss": pred_loss.detach(), **choice.logs}
        if cfg.rollout_weight > 0 and T - h > 1:
            chosen = None if choice.z is None else choice.z.view(len(z), T - h, -1)  # each step's z, detached
            rolled = self.rollout(z[:, :h], actions[:, :-1], chosen)
            rollout_loss = F.mse_loss(rolled.float(), target.float())
            loss = loss + cfg.rollout_weight * rollout_loss
            logs["rollout_loss"] = rollout_loss.detach()
        if cfg.sigreg.weight > 0:
            reg = torch.stack([sigreg(z[:, t], seed=batch["step"], slices=cfg.sigreg.slices, knots=cfg.sigreg.knots,
                                      t_max=cfg.sigreg.t_max) for t in range(T)]).mean()
            loss = loss + cfg.sigreg.weight * reg
            logs["sigreg"] = reg.detach()
        if diagnosing(batch):
            flat = z.detach().float().flatten(0, 1)
            logs.update(latent_std=flat.std(0).mean(), rankme=rankme(flat))
        return StepOutput(loss, logs)

    def eval_encoder(self, which: str = "target") -> ViT:
        return self.encoder
