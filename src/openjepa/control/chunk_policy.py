"""A learned policy that predicts chunks of actions (ACT, ACT-JEPA), as a policy of the control stack.

Without ensembling it queries the model, executes the first ``execute`` actions of the chunk open loop, and queries
again. With temporal ensembling (ACT's) it queries at every step and executes the weighted mean of every chunk's
prediction for the current step, weights ``exp(-m i)`` with i = 0 for the oldest prediction: smooth, and still
closed loop.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from openjepa.control.mpc import frames_tensor
from openjepa.core.errors import ConfigError
from openjepa.core.protocols import ActsInChunks


@dataclass
class ChunkExecution:
    """How a chunk policy acts: ``ensemble`` is ACT's temporal-ensembling weight m (a query per step; None: no
    ensembling, ``execute`` actions per query)."""

    execute: int = 1
    ensemble: float | None = 0.01

    def validate(self, chunk: int | None = None) -> None:
        """Raises a ConfigError for settings out of range (``execute`` beyond ``chunk`` when given)."""
        if self.execute < 1 or (chunk is not None and self.execute > chunk):
            raise ConfigError(f"execute must lie in [1, chunk={chunk}], got {self.execute}")
        if self.ensemble is not None and self.ensemble < 0:
            raise ConfigError(f"ensemble (temporal ensembling's m) must be >= 0 or null, got {self.ensemble}")
        if self.ensemble is not None and self.execute > 1:
            raise ConfigError(f"execute={self.execute} runs chunks open loop, which temporal ensembling (a query per "
                              f"step) does not: set ensemble to null (--no-ensemble)")


class ChunkPolicy:
    """``reset(env, rng)``, ``act(env, observation)`` with a model that :class:`ActsInChunks`; the observation's
    ``pixels``, ``state`` and ``goal`` are what the model reads."""

    def __init__(self, model: ActsInChunks, execution: ChunkExecution | None = None):
        self.model = model
        self.execution = execution or model.execution
        self.execution.validate(model.chunk)

    def reset(self, env, rng: np.random.Generator) -> None:
        self.step = 0
        self.queue: list[np.ndarray] = []
        self.predictions: list[tuple[int, np.ndarray]] = []  # (step it was made at, chunk (k, A)), oldest first

    @torch.no_grad()
    def predict(self, observation: dict[str, np.ndarray]) -> np.ndarray:
        """The model's chunk ``(k, A)`` for one observation."""
        state = torch.as_tensor(observation["state"], dtype=torch.float32)[None]
        goal = torch.as_tensor(observation["goal"], dtype=torch.float32)[None] if "goal" in observation else None
        return self.model.predict_chunk(frames_tensor(observation["pixels"])[None], state, goal)[0].numpy()

    def act(self, env, observation: dict[str, np.ndarray]) -> np.ndarray:
        m = self.execution.ensemble
        if m is None:
            if not self.queue:
                self.queue = list(self.predict(observation)[: self.execution.execute])
            return self.queue.pop(0)
        k = self.model.chunk
        self.predictions = [(t, c) for t, c in self.predictions if t + k > self.step]
        self.predictions.append((self.step, self.predict(observation)))
        for_now = np.stack([chunk[self.step - t] for t, chunk in self.predictions])
        weights = np.exp(-m * np.arange(len(for_now)))[:, None]
        self.step += 1
        return (weights * for_now).sum(0) / weights.sum()
