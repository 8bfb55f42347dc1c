"""A V-JEPA 2-AC-style world model: a block-causal action-conditioned predictor trained on the patch tokens of a
frozen encoder taken from another run.

Each frame is encoded on its own (a video encoder reads it repeated into one tubelet), its patch grid
optionally average-pooled, and the tokens layer-normed: ``z (N, Dz)`` per frame. The predictor (see
:mod:`openjepa.nn.ac_predictor`) reads frames, the action chunk taken after each and, when the data has one,
each frame's state, and predicts the next frame's tokens and state. Loss: L1 of the teacher-forced predictions
of a window plus L1 of an auto-regressive rollout of ``rollout_steps`` steps from its first ``history`` frames
(the states' L1 alike, weighted by ``state_weight``). Only the predictor learns.

The state token: V-JEPA 2-AC reads the robot's proprioception at every step. Here a rollout predicts the state
of each new frame with the same pass that predicts its tokens and feeds it back, so a plan needs only the
observed states of its history (the environment's ``obs["state"]``); ``use_state: false`` drops the token.
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
from openjepa.nn.ac_predictor import ACPredictor, ACPredictorConfig
from openjepa.nn.vit import ViT


@dataclass
class ACWorldModelConfig:
    """The encoder is another run's, frozen (``openjepa train --encoder RUN`` sets ``init.run``): when a run starts
    its encoder settings, input spec, normalisation and weights are copied into this run, which needs it no more
    after. ``history``: observed frames a plan starts from. ``rollout_steps``: auto-regressive steps of the rollout
    loss. ``pool``: average the encoder's patch grid over ``pool x pool`` cells (1: every patch token, as V-JEPA
    2-AC). ``use_state``: a state token per frame when the data has a state. ``plan``: how ``openjepa plan`` plans.
    The action size (env action size x frameskip) and state size come from the data's spec."""

    name: Literal["vjepa2ac"] = "vjepa2ac"
    predictor: ACPredictorConfig = field(default_factory=ACPredictorConfig)
    history: int = 1
    rollout_steps: int = 2
    rollout_weight: float = 1.0
    state_weight: float = 1.0
    pool: int = 1
    use_state: bool = True
    plan: PlanConfig = field(default_factory=lambda: PlanConfig(energy="l1"))

    def validate(self) -> None:
        self.predictor.validate()
        if not 1 <= self.history <= self.predictor.frames:
            raise ValueError(f"method.history must lie in [1, predictor.frames={self.predictor.frames}], "
                             f"got {self.history}")
        if self.rollout_steps < 0 or self.rollout_weight < 0 or self.state_weight < 0:
            raise ValueError("method.rollout_steps, rollout_weight and state_weight must be >= 0")
        if self.pool < 1:
            raise ValueError(f"method.pool must be >= 1, got {self.pool}")


@METHODS.register("vjepa2ac")
class ACWorldModel(Method):
    config_class = ACWorldModelConfig
    eval_tasks = ("world_state",)
    frozen_encoder = True

    def __init__(self, config: ACWorldModelConfig, encoder: ViT, normalize: nn.Module, spec: InputSpec):
        super().__init__()
        config.validate()
        if spec.action_dim is None:
            raise ValueError("the V-JEPA 2-AC model trains on trajectories with actions: data.modality must be "
                             "trajectory")
        grid = encoder.image_size[0] // encoder.config.patch_size, encoder.image_size[1] // encoder.config.patch_size
        if grid[0] % config.pool or grid[1] % config.pool:
            raise ValueError(f"method.pool={config.pool} does not divide the encoder's {grid[0]}x{grid[1]} patch grid")
        self.config, self.normalize, self.encoder = config, normalize, encoder
        self.encoder.requires_grad_(False).eval()
        self.grid = grid[0] // config.pool, grid[1] // config.pool
        self.state_dim = (spec.state_dim or 0) if config.use_state else 0
        self.predictor = ACPredictor(config.predictor, encoder.width, self.grid[0] * self.grid[1], spec.action_dim,
                                     self.state_dim)

    @property
    def history(self) -> int:
        return self.config.history

    @property
    def reads_state(self) -> bool:
        """Whether :meth:`rollout` needs the states of its history frames."""
        return self.state_dim > 0

    @property
    def plan_config(self) -> PlanConfig:
        return self.config.plan

    def train(self, mode: bool = True) -> ACWorldModel:
        super().train(mode)
        self.encoder.eval()  # frozen: no dropout or statistics updates, whatever the trainer asks
        return self

    @torch.no_grad()
    def embed(self, frames: torch.Tensor) -> torch.Tensor:
        """Layer-normed tokens of frames in [0, 1]: images ``(B, C, H, W) -> (B, N, Dz)``, clips
        ``(B, C, T, H, W) -> (B, T, N, Dz)``."""
        if frames.ndim == 5:
            B, C, T, H, W = frames.shape
            return self.embed(frames.transpose(1, 2).reshape(B * T, C, H, W)).unflatten(0, (B, T))
        if frames.ndim != 4:
            raise ValueError(f"frames must be (B, C, H, W) or (B, C, T, H, W), got {tuple(frames.shape)}")
        tokens = self.encoder(self.encoder.as_input(self.normalize(frames)))  # (B, gh gw, Dz)
        if self.config.pool > 1:
            p = self.config.pool
            gh, gw = self.grid[0] * p, self.grid[1] * p
            cells = tokens.transpose(1, 2).reshape(len(tokens), -1, gh, gw)
            tokens = F.avg_pool2d(cells, p).flatten(2).transpose(1, 2)
        return F.layer_norm(tokens, tokens.shape[-1:])

    def rollout(self, z: torch.Tensor, actions: torch.Tensor, states: torch.Tensor | None = None) -> torch.Tensor:
        """Predicted tokens ``(B, H, N, Dz)`` after ``H`` planned steps.

        ``z``: the current frame's tokens ``(B, N, Dz)`` or a history ``(B, h, N, Dz)`` ending at them;
        ``actions (B, h - 1 + H, A)``: the actions taken after each history frame but the last, then the ``H``
        planned ones; ``states``: the history frames' states ``(B, S)`` / ``(B, h, S)``, needed when the model
        :attr:`reads_state` (ignored otherwise). An action only ever changes the predictions after it.
        """
        return self._rollout(z, actions, states)[0]

    def _rollout(self, z: torch.Tensor, actions: torch.Tensor,
                 states: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """:meth:`rollout`'s tokens and the predicted states ``(B, H, S)`` (None without a state): one pass over
        the history, then one frame at a time against the cache of the frames before it."""
        if z.ndim == 3:
            z, states = z[:, None], None if states is None else states[:, None]
        h = z.shape[1]
        steps = actions.shape[1] - (h - 1)
        if steps < 1:
            raise ValueError(f"a history of {h} frames needs {h - 1} past actions plus at least one planned; "
                             f"got actions {tuple(actions.shape)}")
        if h + steps - 1 > self.config.predictor.frames:
            raise ValueError(f"a history of {h} frames and {steps} steps need predictor.frames >= {h + steps - 1}, "
                             f"got {self.config.predictor.frames}; plan a shorter horizon")
        if self.reads_state and states is None:
            raise ValueError("this model reads a state token: pass the history frames' states")
        states = states if self.reads_state else None
        pred, pred_states, cache = self.predictor(z, actions[:, :h], states)
        tokens, known = [pred[:, -1]], [None if pred_states is None else pred_states[:, -1]]
        for t in range(h, h + steps - 1):  # feed the newest predicted frame, with its action (and state)
            seen = None if known[-1] is None else known[-1][:, None]
            pred, pred_states, cache = self.predictor(tokens[-1][:, None], actions[:, t : t + 1], seen, cache)
            tokens.append(pred[:, -1])
            known.append(None if pred_states is None else pred_states[:, -1])
        return torch.stack(tokens, 1), None if known[0] is None else torch.stack(known, 1)

    def pooled(self, frames: torch.Tensor) -> torch.Tensor:
        """The mean of :meth:`embed`'s tokens: ``(B, C, H, W) -> (B, Dz)``."""
        return self.embed(frames).mean(1)

    def forward(self, batch: Batch) -> StepOutput:
        cfg = self.config
        frames, actions = batch["inputs"], batch["actions"]  # (B, C, T, H, W), (B, T, A)
        states = batch["state"] if self.reads_state else None  # (B, T, S)
        T, h, steps = frames.shape[2], cfg.history, cfg.rollout_steps
        if not 2 <= T <= cfg.predictor.frames + 1:
            raise ValueError(f"training windows of {T} frames: need 2 <= data.frames <= predictor.frames + 1 = "
                             f"{cfg.predictor.frames + 1}")
        rollout = cfg.rollout_weight > 0 and steps > 0
        if rollout and h + steps > T:
            raise ValueError(f"a rollout of {steps} steps after a history of {h} frames needs data.frames >= "
                             f"{h + steps}, got {T}")
        z = self.embed(frames)  # (B, T, N, Dz)
        target = z[:, 1:].float()
        pred, pred_states, _ = self.predictor(z[:, :-1], actions[:, :-1], None if states is None else states[:, :-1])
        pred_loss = F.l1_loss(pred.float(), target)
        loss = pred_loss
        logs = {"pred_loss": pred_loss.detach(), "copy_loss": F.l1_loss(z[:, :-1].float(), target)}
        if self.reads_state:
            state_loss = F.l1_loss(pred_states.float(), states[:, 1:])
            loss = loss + cfg.state_weight * state_loss
            logs["state_loss"] = state_loss.detach()
        if rollout:
            rolled, rolled_states = self._rollout(z[:, :h], actions[:, : h - 1 + steps],
                                                  None if states is None else states[:, :h])
            rollout_loss = F.l1_loss(rolled.float(), target[:, h - 1 : h - 1 + steps])
            loss = loss + cfg.rollout_weight * rollout_loss
            logs["rollout_loss"] = rollout_loss.detach()
            if self.reads_state:
                rollout_state_loss = F.l1_loss(rolled_states.float(), states[:, h : h + steps])
                loss = loss + cfg.rollout_weight * cfg.state_weight * rollout_state_loss
                logs["rollout_state_loss"] = rollout_state_loss.detach()
        return StepOutput(loss, logs)

    def eval_encoder(self, which: str = "target") -> ViT:
        return self.encoder
