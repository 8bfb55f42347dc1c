"""What a method is, and the capabilities callers rely on, declared instead of probed.

A :class:`Method` trains from a :class:`Batch` and names the encoder evaluation reads. Capabilities are
protocols checked with ``isinstance``: :class:`PredictsTargets` (a predictor of target features: surprise, and
any energy of a pair), :class:`EmbedsText` (images and texts in one space: zero-shot, captions),
:class:`WorldModel` (embed frames, roll actions out: planning and world-model evaluation),
:class:`ScoresTransitions` (a world model's transitions as prediction problems: energies), :class:`ActsInChunks`
(observations to action chunks: closed-loop rollouts).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Protocol, TypedDict, runtime_checkable

import torch
from torch import nn


class Batch(TypedDict, total=False):
    """One training step's batch, as the loader builds it.

    ``inputs``: the samples stacked and prepared by their modality (images ``(B, C, H, W)`` or clips and
    trajectory windows ``(B, C, T, H, W)`` in [0, 1]); ``index`` ``(B,)`` their dataset indices; ``step``,
    ``epoch``; ``seed``: seeds the batch's random draws (augmentations); ``label`` ``(B,)`` class labels, or, for
    trajectory windows, ``actions`` ``(B, T, A)``, ``state`` ``(B, T, S)`` and, where the store records them,
    ``goal`` ``(B, T, G)``; for captioned images ``caption``, a list of B texts. A method's
    :meth:`Method.sample_extras` adds its own keys (masks: ``ctx_idx``, ``tgt_idx`` ...)."""

    inputs: torch.Tensor
    index: torch.Tensor
    step: int
    epoch: int
    seed: int
    label: torch.Tensor
    actions: torch.Tensor
    state: torch.Tensor
    goal: torch.Tensor
    caption: list[str]


class SampleExtras(Protocol):
    """Per-batch draws from the sample keys, e.g. masks: ``(seed, epoch, indices) -> tensors`` added to the batch."""

    def __call__(self, seed: int, epoch: int, indices: list[int]) -> dict[str, torch.Tensor]: ...


@dataclass
class StepOutput:
    """A training step's loss, its named parts and metrics (scalars, detached)."""

    loss: torch.Tensor
    logs: dict[str, torch.Tensor] = field(default_factory=dict)


class Method(nn.Module):
    """A JEPA family member: ``forward(batch) -> StepOutput``.

    Built as ``cls(config, encoder, normalize, spec)`` from its config (an instance of ``config_class``), the
    encoder its run's modality built, the input normalisation and the data's :class:`InputSpec`. The trainer
    calls :meth:`after_step` after each optimizer step and never looks inside. Class facts: ``eval_tasks``,
    evaluation tasks run on every run of the method beside its modality's; ``frozen_encoder``: the method trains
    on the encoder of another run (``init.run``), frozen.
    """

    config_class: ClassVar[type]
    eval_tasks: ClassVar[tuple[str, ...]] = ()
    frozen_encoder: ClassVar[bool] = False
    normalize: nn.Module

    @classmethod
    def freezes_encoder(cls, config: object) -> bool:
        """Whether a run with this method config trains on the frozen encoder of another run (``init.run`` is then
        required); default: the class fact ``frozen_encoder``."""
        return cls.frozen_encoder

    @classmethod
    def frozen_sources(cls, config: object) -> dict[str, str]:
        """Other runs (or HF folders) whose encoders the method reads frozen beside its own, by name (default:
        none). When a run starts each is loaded, :meth:`take_frozen` records its settings in ``config``, and its
        weights go into :meth:`frozen_source`; a resumed run reads them from its checkpoint."""
        return {}

    @classmethod
    def take_frozen(cls, config: object, name: str, encoder: object, spec: object,
                    normalisation: tuple[list[float], list[float]]) -> None:
        """Record in ``config`` what building the frozen encoder ``name`` needs: its ViT settings, input spec and
        normalisation (mean, std)."""
        raise NotImplementedError

    def frozen_source(self, name: str) -> nn.Module:
        """The module the weights of the frozen source ``name`` load into."""
        raise NotImplementedError

    def sample_extras(self) -> SampleExtras | None:
        """Per-sample draws the loader adds to each batch (masks), or None."""
        return None

    def after_step(self, step: int, total_steps: int) -> dict[str, float]:
        """Update non-gradient state (EMA targets); returns values to log."""
        return {}

    def eval_encoder(self, which: str = "target") -> nn.Module:
        """The encoder evaluated downstream: normalised inputs -> tokens ``(B, N, D)``; ``which``: ``target`` or
        ``context`` (the same network for methods with one)."""
        raise NotImplementedError


@runtime_checkable
class PredictsTargets(Protocol):
    """A method whose predictor guesses the target encoder's features at hidden positions from visible ones.
    ``predicts_change``: its predictions are changes added to what the visible part shows (so even untrained it
    carries the visible part forward). ``latent``: its predictor's latent variable z
    (:class:`~openjepa.nn.latent.LatentVariable`, of kind ``none`` without one)."""

    predicts_change: bool
    latent: nn.Module

    def prediction_problem(self, inputs: torch.Tensor, ctx_idx: torch.Tensor, tgt_idx: torch.Tensor,
                           targets: torch.Tensor | None = None) -> object:
        """The :class:`~openjepa.objectives.energy.PredictionProblem` of predicting the target features at
        ``tgt_idx (B, Lt)`` of normalised inputs from the tokens at ``ctx_idx (B, Lc)``: its predictions under
        candidate latents, the targets and the distance that score them."""

    def target_features(self, inputs: torch.Tensor) -> torch.Tensor:
        """Normalised target features ``(B, N, levels * D)`` of normalised inputs."""

    def predict_targets(self, inputs: torch.Tensor, ctx_idx: torch.Tensor, tgt_idx: torch.Tensor,
                        targets: torch.Tensor | None = None) -> torch.Tensor:
        """Predictions ``(B, Lt, D)`` at token ids ``tgt_idx (B, Lt)`` from the tokens at ``ctx_idx (B, Lc)``."""

    def prediction_energy(self, inputs: torch.Tensor, ctx: torch.Tensor, tgt: torch.Tensor) -> torch.Tensor:
        """``(B, Lt)``: the method's distance from its prediction for the tokens ``tgt (Lt,)`` of normalised inputs,
        given the tokens ``ctx (Lc,)``, to the target encoder's features there (low: compatible); with a latent z,
        at the z of least energy (the free energy)."""


@runtime_checkable
class EmbedsText(Protocol):
    """A method that maps images and texts into one space (VL-JEPA): images to the embedding of their description,
    texts through its text encoder (``text_encoder_name`` says which); classification and retrieval read the
    nearest text."""

    text_encoder_name: str

    def embed_images(self, images: torch.Tensor) -> torch.Tensor:
        """Images ``(B, C, H, W)`` in [0, 1] -> ``(B, E)``."""

    def embed_texts(self, texts: list[str]) -> torch.Tensor:
        """Texts -> ``(N, E)``, on the method's device."""


@runtime_checkable
class DrawsMasks(Protocol):
    """A method whose masks depend on the inputs themselves (point clouds: regions of the cloud), so it draws them
    in its step rather than in the loader; pictures ask it for a draw."""

    def draw_masks(self, inputs: torch.Tensor, seed: int) -> dict[str, torch.Tensor]:
        """One draw for normalised inputs, as a training step with batch seed ``seed`` makes it: ``ctx_idx`` /
        ``ctx_valid (B, Lc)``, ``tgt_idx`` / ``tgt_valid (B, K, Lt)`` and the tokens' places ``centres (B, N, 3)``
        and point groups ``neighbours (B, N, k, 3)`` (relative to their centres)."""


@runtime_checkable
class WorldModel(Protocol):
    """An action-conditioned model that plans: latents of frames, and their rollout under actions.

    ``history``: observed frames a prediction looks back on; ``reads_state``: whether :meth:`rollout` needs the
    states of its history frames; ``plan_config``: how ``openjepa plan`` plans with it (the recipe's settings)."""

    history: int
    reads_state: bool
    plan_config: object

    def embed(self, frames: torch.Tensor) -> torch.Tensor:
        """Latents of frames in [0, 1]: ``(B, C, H, W) -> (B, *Z)``, ``(B, C, T, H, W) -> (B, T, *Z)``."""

    def pooled(self, frames: torch.Tensor) -> torch.Tensor:
        """The encoder's mean-pooled features ``(B, D)`` of frames ``(B, C, H, W)`` in [0, 1]."""

    def rollout(self, z: torch.Tensor, actions: torch.Tensor, states: torch.Tensor | None = None) -> torch.Tensor:
        """Predicted latents ``(B, H, *Z)`` after ``H`` planned action chunks (see the methods' docstrings)."""



@runtime_checkable
class ScoresTransitions(Protocol):
    """A world model whose predictor poses one transition as a prediction problem, with its latent variable z
    (``latent``, of kind ``none`` without one): the energy E(x, y, z) of x = (latents, actions), y = the next
    latent."""

    latent: nn.Module

    def transition_problem(self, history: torch.Tensor, actions: torch.Tensor, next_latents: torch.Tensor) -> object:
        """The :class:`~openjepa.objectives.energy.PredictionProblem` of predicting ``next_latents (B, *Z)`` from the
        latents ``history (B, h, *Z)`` and the actions taken after each ``(B, h, A)``."""


@runtime_checkable
class ActsInChunks(Protocol):
    """A learned policy (ACT-JEPA): an observation (frame, proprioceptive state, goal) -> the next ``chunk`` actions.
    ``execution``: how rollouts act with it (the recipe's settings: actions executed per query, temporal
    ensembling)."""

    chunk: int
    execution: object

    def predict_chunk(self, frames: torch.Tensor, state: torch.Tensor | None,
                      goal: torch.Tensor | None) -> torch.Tensor:
        """Frames ``(B, C, H, W)`` in [0, 1], states ``(B, S)`` and goals ``(B, G)`` (None for a model that reads
        none) -> actions ``(B, chunk, A)``."""


@runtime_checkable
class Forecasts(Protocol):
    """A forecaster of a tracked agent's path (ThinkJEPA): from the first ``observed`` frames of a clip, its
    positions over the ``horizon`` frames after them, from the trained model and from the ablations trained beside
    it in the same run."""

    observed: int
    horizon: int

    def forecast(self, clips: torch.Tensor) -> dict[str, torch.Tensor]:
        """Clips ``(B, C, T, H, W)`` in [0, 1], ``T >= observed`` -> positions ``(B, horizon, 2)`` by model
        (``trained`` first)."""
