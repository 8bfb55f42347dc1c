"""The energy of a JEPA: E(x, y, z) = D(Pred(s_x, z), s_y) and its free energy F(x, y) = min_z E(x, y, z).

A method that predicts describes one prediction as a :class:`PredictionProblem`: how its predictor answers for
candidate latents, the target features the answers are scored against and its distance. Training, surprise, the
``energy`` command and the landscape pictures all score through it, so they agree by construction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from openjepa.nn.latent import LatentChoice, LatentVariable
from openjepa.objectives.distances import Distance, token_distance


@dataclass
class PredictionProblem:
    """``predict``: latents ``(B, R, dim)`` (None: the predictor without z) -> predictions ``(B, R, L, D)``;
    ``targets (B, L, D)``: the target features s_y; ``distance``: D; ``valid (B, L)``: real target tokens (None:
    all)."""

    predict: Callable[[torch.Tensor | None], torch.Tensor]
    targets: torch.Tensor
    distance: Distance
    valid: torch.Tensor | None = None

    def energies(self, z: torch.Tensor | None, targets: torch.Tensor | None = None) -> torch.Tensor:
        """``(B, R, L)``: the distance of every token's prediction under each latent to ``targets`` (default: the
        problem's own; any ``(B, L, D)``, e.g. a point of an energy landscape). Padded tokens are 0."""
        targets = self.targets if targets is None else targets
        pred = self.predict(z)
        energy = token_distance(pred.float(), targets[:, None].expand_as(pred).float(), self.distance)
        return energy if self.valid is None else energy * self.valid[:, None]

    def per_sample(self, energy: torch.Tensor) -> torch.Tensor:
        """Token energies ``(B, ..., L)`` -> their mean over real tokens ``(B, ...)``."""
        if self.valid is None:
            return energy.mean(-1)
        valid = self.valid.view(len(self.valid), *([1] * (energy.ndim - 2)), -1).to(energy.dtype)
        return (energy * valid).sum(-1) / valid.sum(-1).clamp_min(1)


def repeat_rows(x: torch.Tensor | None, times: int) -> torch.Tensor | None:
    """``(B, ...)`` -> ``(B times, ...)``, each row repeated ``times`` times in a row (as latents ``(B, R, dim)``
    flatten); None stays None."""
    return x if x is None or times == 1 else x.repeat_interleave(times, 0)


def free_energy(latent: LatentVariable, problem: PredictionProblem,
                targets: torch.Tensor | None = None) -> LatentChoice:
    """F's search: per sample the z of least energy against ``targets`` (default: the problem's) and the token
    energies there ``(B, L)`` (``.energy``; without a latent, E itself)."""
    t = problem.targets if targets is None else targets
    return latent.choose(lambda z: problem.energies(z, t), len(t), t.device)


def latent_energies(latent: LatentVariable, problem: PredictionProblem) -> torch.Tensor:
    """``(B, R)``: each sample's energy under every starting latent (every code; z = 0 for a continuous one; one
    column without a latent)."""
    t = problem.targets
    return problem.per_sample(problem.energies(latent.candidates(len(t), t.device)))
