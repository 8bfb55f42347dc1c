"""What every method with a predictor of target features answers through its prediction problems: the free energy
of a prediction and the prediction itself (:class:`~openjepa.core.protocols.PredictsTargets`)."""

from __future__ import annotations

import torch

from openjepa.objectives.energy import free_energy


class PredictionEnergies:
    """``prediction_energy`` and ``predict_targets`` for a method with ``prediction_problem(inputs, ctx_idx, tgt_idx,
    targets)`` and a ``latent``; inputs are normalised images ``(B, C, H, W)`` or clips ``(B, C, T, H, W)``."""

    def prediction_energy(self, inputs: torch.Tensor, ctx: torch.Tensor, tgt: torch.Tensor,
                          targets: torch.Tensor | None = None) -> torch.Tensor:
        """``(B, Lt)``: the free energy's token distances (the training distance; the minimum over z with a latent)
        of the predictor's guess for the tokens ``tgt (Lt,)`` from the context encoder's view of the tokens ``ctx
        (Lc,)``, to the target features there (``targets``: the inputs' ``target_features``, when the caller has
        them already)."""
        B = len(inputs)
        problem = self.prediction_problem(inputs, ctx.expand(B, -1), tgt.expand(B, -1), targets)
        return free_energy(self.latent, problem).energy

    def predict_targets(self, inputs: torch.Tensor, ctx_idx: torch.Tensor, tgt_idx: torch.Tensor,
                        targets: torch.Tensor | None = None) -> torch.Tensor:
        """Predictions ``(B, Lt, D)`` of the target features at ``tgt_idx (B, Lt)`` from the tokens at ``ctx_idx
        (B, Lc)``; with a latent, their mean over its starting points (its codes, or z = 0)."""
        problem = self.prediction_problem(inputs, ctx_idx, tgt_idx, targets)
        return problem.predict(self.latent.candidates(len(inputs), inputs.device)).mean(1)
