"""ACT-JEPA: imitation that predicts a chunk of actions and the latents of the observations they lead to.

A context encoder reads the current observation (the frame's patch tokens, a token of the proprioceptive state) and
a token of the goal; a decoder's learned queries read them: ``chunk`` action queries give the next actions (ACT's
chunking) and ``chunk / s`` latent queries give the latents of the observations s, 2s, ..., ``chunk`` steps ahead
(s = ``latent_stride``), which an EMA copy of the context encoder computes from the demonstration's future frames
and states (mean of their tokens, layer-normed). Rows after the goal changes inside a window (a retargeted
demonstration heading for its next goal) are left out of both terms.
Loss: L1 of the actions + ``latent_weight`` x the squared error of the latents; ``latent_weight=0`` is plain action
chunking with the same networks. Trained on windows of ``chunk + 1`` steps of a trajectory store (``openjepa
collect``, frame_step 1); ``openjepa rollout`` acts with it closed loop.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from openjepa.control.chunk_policy import ChunkExecution
from openjepa.core.protocols import Batch, Method, StepOutput
from openjepa.core.spec import InputSpec
from openjepa.methods.registry import METHODS
from openjepa.methods.targets import TargetConfig, TargetEncoder
from openjepa.nn.observation_encoder import ObservationEncoder
from openjepa.nn.query_predictor import QueryPredictor, QueryPredictorConfig
from openjepa.nn.vit import ViT
from openjepa.objectives.diagnostics import diagnosing, rankme


@dataclass
class ACTJEPAConfig:
    """``chunk``: actions per prediction, and future observations whose latents are predicted. ``latent_weight``:
    weight of the latent term (0: plain action chunking); ``latent_stride``: predict the latents of every s-th future
    observation of the chunk (s, 2s, ..., chunk; 1: all of them), which saves target-encoder work. ``decoder``: the
    query decoder (its ``queries`` are set to chunk + chunk / s). ``use_state`` / ``use_goal``: read the
    proprioceptive state / the goal when the data has them. ``execution``: how ``openjepa rollout`` acts (temporal
    ensembling or open-loop chunks)."""

    name: Literal["actjepa"] = "actjepa"
    chunk: int = 8
    latent_weight: float = 1.0
    latent_stride: int = 1
    decoder: QueryPredictorConfig = field(default_factory=lambda: QueryPredictorConfig(width=192, depth=4, heads=4))
    target: TargetConfig = field(default_factory=TargetConfig)
    use_state: bool = True
    use_goal: bool = True
    execution: ChunkExecution = field(default_factory=ChunkExecution)

    def validate(self) -> None:
        if self.chunk < 1:
            raise ValueError(f"method.chunk must be >= 1, got {self.chunk}")
        if self.latent_weight < 0:
            raise ValueError(f"method.latent_weight must be >= 0, got {self.latent_weight}")
        if not 1 <= self.latent_stride <= self.chunk or self.chunk % self.latent_stride:
            raise ValueError(f"method.latent_stride must divide method.chunk={self.chunk}, got {self.latent_stride}")
        self.target.validate()
        self.execution.validate(self.chunk)


@METHODS.register("actjepa")
class ACTJEPA(Method):
    config_class = ACTJEPAConfig
    eval_tasks = ("future_state",)

    def __init__(self, config: ACTJEPAConfig, encoder: ViT, normalize: nn.Module, spec: InputSpec):
        super().__init__()
        config.validate()
        if encoder.reads_clips:
            raise ValueError("ACT-JEPA encodes observations one frame at a time: use an image encoder")
        if spec.action_dim is None:
            raise ValueError("ACT-JEPA learns from demonstrations: data.modality must be trajectory (a store written "
                             "by openjepa collect)")
        if spec.frames is not None and spec.frames < config.chunk + 1:
            raise ValueError(f"windows of {spec.frames} steps are too short for chunks of {config.chunk} actions: set "
                             f"data.frames to method.chunk + 1 = {config.chunk + 1}")
        self.config, self.chunk, self.execution = config, config.chunk, config.execution
        self.normalize = normalize
        self.observation = ObservationEncoder(encoder, (spec.state_dim or 0) if config.use_state else 0)
        self.goal_dim = (spec.goal_dim or 0) if config.use_goal else 0
        width = encoder.width
        if self.goal_dim:
            self.goal_norm = nn.BatchNorm1d(self.goal_dim, affine=False, momentum=None)
            self.goal_token = nn.Linear(self.goal_dim, width)
        self.predicted = config.chunk // config.latent_stride  # future observations whose latents are predicted
        self.decoder = QueryPredictor(replace(config.decoder, queries=config.chunk + self.predicted), width, None)
        self.action_head = nn.Linear(config.decoder.width, spec.action_dim)
        self.latent_head = nn.Linear(config.decoder.width, width)
        self.target = TargetEncoder(config.target, self.observation)

    @property
    def encoder(self) -> ViT:
        return self.observation.encoder

    def decode(self, frames: torch.Tensor, state: torch.Tensor | None,
               goal: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Frames ``(B, C, H, W)`` in [0, 1], states ``(B, S)``, goals ``(B, G)`` -> actions ``(B, k, A)`` and
        predicted latents ``(B, k / s, D)`` of the observations s, 2s, ..., k steps ahead (s = ``latent_stride``)."""
        tokens = self.observation(self.normalize(frames), state)
        if self.goal_dim:
            if goal is None or goal.shape[-1] != self.goal_dim:
                raise ValueError(f"this policy reads goals of size {self.goal_dim}, got "
                                 f"{None if goal is None else tuple(goal.shape)}")
            tokens = torch.cat([tokens, self.goal_token(self.goal_norm(goal.float()))[:, None].to(tokens)], 1)
        queries = self.decoder.read(tokens)
        return self.action_head(queries[:, : self.chunk]), self.latent_head(queries[:, self.chunk :])

    def predict_chunk(self, frames: torch.Tensor, state: torch.Tensor | None,
                      goal: torch.Tensor | None) -> torch.Tensor:
        return self.decode(frames, state, goal)[0]

    @torch.no_grad()
    def future_latents(self, frames: torch.Tensor, state: torch.Tensor | None) -> torch.Tensor:
        """The target encoder's layer-normed latents of observations: frames ``(B, C, k, H, W)`` in [0, 1] and
        states ``(B, k, S)`` -> ``(B, k, D)``."""
        B, C, k, H, W = frames.shape
        flat = self.normalize(frames.transpose(1, 2).reshape(B * k, C, H, W))
        flat_state = None if state is None else state.reshape(B * k, -1)
        z = self.target.net.latent(flat, flat_state).reshape(B, k, -1)
        return F.layer_norm(z, z.shape[-1:])

    def forward(self, batch: Batch) -> StepOutput:
        frames, actions = batch["inputs"], batch["actions"]  # (B, C, T, H, W), (B, T, A)
        k = self.chunk
        if frames.shape[2] < k + 1:
            raise ValueError(f"training windows of {frames.shape[2]} steps are too short for chunks of {k}: set "
                             f"data.frames to {k + 1}")
        state, goal = batch.get("state"), batch.get("goal")
        if self.goal_dim and goal is None:
            raise ValueError("this ACT-JEPA reads goals but the store records none: collect with openjepa collect "
                             "(which records them) or set method.use_goal=false")
        pred_actions, pred_latents = self.decode(frames[:, :, 0], None if state is None else state[:, 0],
                                                 None if goal is None else goal[:, 0])
        # an action is a demonstration of reaching the first row's goal only while the goal has not changed (a
        # retargeted episode goes on toward a new one): later actions, and the observations they lead to, are left out
        kept = torch.ones(actions.shape[:2], dtype=torch.bool, device=actions.device)[:, :k]
        if goal is not None:
            kept = (goal[:, :k] == goal[:, :1]).all(-1).cumprod(1).bool()
        weights = kept.float()
        action_error = (pred_actions.float() - actions[:, :k].float()).abs().mean(-1)
        action_loss = (action_error * weights).sum() / weights.sum()
        loss, logs = action_loss, {"action_l1": action_loss.detach()}
        if self.config.latent_weight > 0:
            stride = self.config.latent_stride
            ahead = slice(stride, k + 1, stride)
            future_state = None if state is None or not self.observation.state_dim else state[:, ahead]
            target = self.future_latents(frames[:, :, ahead], future_state)
            reached = weights[:, stride - 1 :: stride]  # observation j follows actions 0..j-1
            latent_error = (pred_latents.float() - target.float()).square().mean(-1)
            latent_loss = (latent_error * reached).sum() / reached.sum().clamp_min(1)
            loss = loss + self.config.latent_weight * latent_loss
            logs["latent_loss"] = latent_loss.detach()
            if diagnosing(batch):
                logs["rankme"] = rankme(target[:, 0].float())
        return StepOutput(loss, logs)

    def after_step(self, step: int, total_steps: int) -> dict[str, float]:
        if self.config.latent_weight == 0:
            return {}
        m = self.target.update(self.observation, step, total_steps)
        return {} if m is None else {"momentum": m}

    def eval_encoder(self, which: str = "target") -> ViT:
        """The EMA encoder (``target``; the context encoder when the latent term is off, since the EMA copy then
        never moves) or the context encoder."""
        return self.target.net.encoder if which == "target" and self.config.latent_weight > 0 else self.encoder
