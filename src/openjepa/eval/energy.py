"""Energies of pairs for any run with a predictor: E(x, y) and the free energy F(x, y) = min_z E(x, y, z).

What a pair is depends on the run: for a video JEPA, x is a clip's first half of time steps and y the second half
of a clip (its own: a true pair; another's: a shuffled one); for an image JEPA, x is an image's left half and y the
right half of an image; for a world model, x is a history of frames and the actions taken, y the frame after. Pairs
are scored by the method's own :class:`~openjepa.objectives.energy.PredictionProblem`, so the figures are those its
training minimised. A true pair should have less energy than a shuffled one: :func:`shuffled_pairs` measures how
often it does (AUROC) and by how much (the gap).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from openjepa.core.errors import TrainingError
from openjepa.core.protocols import Method, PredictsTargets, ScoresTransitions, WorldModel
from openjepa.masks.tubes import future_split
from openjepa.nn.latent import LatentConfig, LatentVariable
from openjepa.objectives.energy import PredictionProblem, free_energy, latent_energies


def pair_tokens(method: Method) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids ``(Lc,)`` of x and ``(Lt,)`` of y on the method's token grid: the first half of the time steps and
    the rest (clips), or the left half of the columns and the right (images)."""
    grid = method.encoder.grid
    if method.encoder.reads_clips:
        return future_split(grid, grid[0] // 2)
    columns = torch.arange(grid[0] * grid[1]) % grid[1]
    return torch.nonzero(columns < grid[1] // 2)[:, 0], torch.nonzero(columns >= grid[1] // 2)[:, 0]


def splice(method: Method, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Inputs of the same shape, ``(B, C, T, H, W)`` clips or ``(B, C, H, W)`` images -> x's first half of time steps
    (of columns) joined to y's second half, cut on the token grid."""
    if x.shape != y.shape:
        raise ValueError(f"x {tuple(x.shape)} and y {tuple(y.shape)} must have the same shape")
    grid = method.encoder.grid
    if method.encoder.reads_clips:
        cut = x.shape[2] // grid[0] * (grid[0] // 2)
        return torch.cat([x[:, :, :cut], y[:, :, cut:]], dim=2)
    cut = x.shape[-1] // grid[1] * (grid[1] // 2)
    return torch.cat([x[..., :cut], y[..., cut:]], dim=-1)


def _predictor_run(method: Method) -> PredictsTargets:
    if not isinstance(method, PredictsTargets):
        raise TrainingError(f"a '{type(method).__name__}' run has no predictor of target tokens to score pairs with "
                            f"(I-JEPA and V-JEPA runs and world models have)")
    return method


def pair_problem(method: Method, x: torch.Tensor, y: torch.Tensor) -> PredictionProblem:
    """The prediction of y's target features from x (normalised inputs of one shape; see :func:`splice`)."""
    method = _predictor_run(method)
    inputs = splice(method, x, y)
    ctx, tgt = (ids.to(inputs.device) for ids in pair_tokens(method))
    return method.prediction_problem(inputs, ctx.expand(len(inputs), -1), tgt.expand(len(inputs), -1))


def transition_problem(model: WorldModel, frames: torch.Tensor, actions: torch.Tensor,
                       next_frames: torch.Tensor) -> PredictionProblem:
    """A world model's prediction of the latent of ``next_frames (B, C, H, W)`` from frames ``(B, C, h, H, W)``
    (or one ``(B, C, H, W)``) and the actions taken after each ``(B, h, A)``, all in [0, 1]."""
    history = model.embed(frames if frames.ndim == 5 else frames[:, :, None])
    if isinstance(model, ScoresTransitions):
        return model.transition_problem(history, actions, model.embed(next_frames))
    target = model.embed(next_frames)

    def predict(z: torch.Tensor | None) -> torch.Tensor:
        step = model.rollout(history, actions)[:, :1]  # (B, 1, *Z)
        return step.reshape(len(step), 1, 1, -1)

    return PredictionProblem(predict, target.reshape(len(target), 1, -1), model.plan_config.energy)


NO_LATENT = LatentVariable(LatentConfig(), 1, 1)  # the latent of a predictor without one: no parameters


def latent_of(method: Method) -> LatentVariable:
    """The latent variable z of a method's predictor (of kind ``none`` without one, also for a method that
    declares none)."""
    return method.latent if isinstance(method, (PredictsTargets, ScoresTransitions)) else NO_LATENT


def energies(method: Method, problem: PredictionProblem) -> torch.Tensor:
    """``(B, R)``: E(x, y, z) of each pair under each of the method's starting latents (every code of a discrete z,
    z = 0 for a continuous one; one column without a latent)."""
    return latent_energies(latent_of(method), problem)


def free_energies(method: Method, problem: PredictionProblem) -> torch.Tensor:
    """``(B,)``: F(x, y) = min_z E(x, y, z) of each pair (E itself without a latent)."""
    return problem.per_sample(free_energy(latent_of(method), problem).energy)


def auroc(low: torch.Tensor, high: torch.Tensor) -> float:
    """How often a score of ``high`` (shuffled pairs, impossible clips) exceeds one of ``low``: the AUROC of the
    score as a detector of ``high``."""
    labels = np.r_[np.zeros(len(low)), np.ones(len(high))]
    return float(roc_auc_score(labels, torch.cat([low, high]).float().numpy()))


def compare(true: torch.Tensor, shuffled: torch.Tensor) -> dict[str, float | int]:
    """F of true pairs ``(N,)`` against shuffled ones: ``auroc``, ``energy_gap`` (mean shuffled minus mean true),
    both means and ``pairs``."""
    true, shuffled = true.float().cpu(), shuffled.float().cpu()
    return {"auroc": auroc(true, shuffled), "energy_gap": float(shuffled.mean() - true.mean()),
            "true_energy": float(true.mean()), "shuffled_energy": float(shuffled.mean()), "pairs": len(true)}


def shuffled(n: int) -> torch.Tensor:
    """``(n,)``: the partner of each of n samples in a shuffled pair, half the set away (never itself for n > 1)."""
    return torch.arange(n).roll(n // 2)


@dataclass
class Pairs:
    """Samples a run's pairs are made of, x of sample i with y of sample j. Image and video runs: ``inputs`` in
    [0, 1] (``(N, C, H, W)`` or ``(N, C, T, H, W)``), x and y both from them (see :func:`splice`); world models:
    ``inputs`` are histories of frames ``(N, C, h, H, W)``, ``actions (N, h, A)`` the actions after each and
    ``after (N, C, H, W)`` the frames that followed."""

    method: Method
    inputs: torch.Tensor
    actions: torch.Tensor | None = None
    after: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.inputs)

    def problem(self, i: torch.Tensor, j: torch.Tensor) -> PredictionProblem:
        """The prediction of y of samples ``j (M,)`` from x of samples ``i (M,)``."""
        device = next(self.method.parameters()).device
        if self.actions is None:
            x, y = (self.method.normalize(self.inputs[k].to(device)) for k in (i, j))
            return pair_problem(self.method, x, y)
        return transition_problem(self.method, self.inputs[i].to(device), self.actions[i].to(device),
                                  self.after[j].to(device))

    def picture(self, i: int) -> np.ndarray:
        """uint8 ``(H, W, 3)``: what x of sample i shows (a clip's frames side by side; an image's left half; a
        history's frames)."""
        x = self.inputs[i]
        if x.ndim == 4:  # (C, T, H, W)
            steps = x.shape[1] if self.actions is not None else x.shape[1] // 2
            x = torch.cat(list(x[:, :steps].unbind(1)), dim=-1)
        elif self.actions is None:
            x = x[..., : x.shape[-1] // 2]
        x = x[:3] if len(x) >= 3 else x[:1].expand(3, -1, -1)
        return (x.float().clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()

    @torch.no_grad()
    def free_energies(self, i: torch.Tensor, j: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
        """``(M,)``: F of the pairs (x of ``i``, y of ``j``)."""
        return torch.cat([free_energies(self.method, self.problem(i[s : s + batch_size], j[s : s + batch_size]))
                          .float().cpu() for s in range(0, len(i), batch_size)])

    def shuffled(self, batch_size: int = 64) -> dict[str, float | int]:
        """:func:`compare` of every sample's true pair and a shuffled one (y of the sample half the set away)."""
        if len(self) < 2:
            raise ValueError("shuffled pairs need at least 2 samples")
        own = torch.arange(len(self))
        return compare(self.free_energies(own, own, batch_size), self.free_energies(own, shuffled(len(self)),
                                                                                    batch_size))

    @torch.no_grad()
    def landscapes(self, samples: list[int], coords: torch.Tensor
                   ) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """Per sample: F over a slice of y (:func:`landscape` at ``coords (n,)`` standard deviations along the
        principal directions of the true pairs' targets of up to 256 samples), and the slice coordinates of y of
        the sample's shuffled partner and of every sample's true y ``(N, 2)`` (where the y's of the data lie)."""
        own = torch.arange(min(len(self), 256))
        targets = self.problem(own, own).targets
        directions = slice_directions(targets)
        partner = shuffled(len(self))
        latent = latent_of(self.method)
        out = []
        for i in samples:
            copies = torch.full((len(coords) ** 2,), i)
            grid = landscape(latent, self.problem(copies, copies), directions, coords)
            origin = targets[i] if i < len(targets) else self.problem(copies[:1], copies[:1]).targets[0]
            other = self.problem(copies[:1], partner[i : i + 1]).targets
            out.append((grid, plane_coords(origin, directions, other).cpu(),
                        plane_coords(origin, directions, targets).cpu()))
        return out


def slice_directions(targets: torch.Tensor) -> torch.Tensor:
    """``(2, L D)``: the two principal directions of target features ``(N, L, D)`` (flattened), each scaled to the
    spread of the targets along it (one standard deviation), so a slice of y spans what y's really vary in."""
    flat = targets.flatten(1).float()
    flat = flat - flat.mean(0)
    _, values, vectors = torch.linalg.svd(flat, full_matrices=False)
    return vectors[:2] * (values[:2] / max(1, len(flat) - 1) ** 0.5)[:, None]


def plane_coords(origin: torch.Tensor, directions: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """Coordinates ``(M, 2)`` in the plane through ``origin (L, D)`` spanned by ``directions (2, L D)`` of the
    nearest points of the plane to ``points (M, L, D)`` (least squares)."""
    offsets = (points.flatten(1) - origin.flatten()).float()  # (M, L D)
    return torch.linalg.lstsq(directions.T[None].expand(len(points), -1, -1), offsets[..., None]).solution[..., 0]


@torch.no_grad()
def landscape(latent: LatentVariable, problem: PredictionProblem, directions: torch.Tensor,
              coords: torch.Tensor) -> torch.Tensor:
    """F(x, y) over a 2-D slice of y: ``problem`` holds ``n * n`` copies of one pair (x, true y); y runs over
    ``true y + a d_0 + b d_1`` (``directions (2, L D)``) for ``a, b`` in ``coords (n,)`` -> ``(n, n)``, rows b,
    columns a. The true y lies at (0, 0)."""
    n = len(coords)
    if len(problem.targets) != n * n:
        raise ValueError(f"a landscape of {n} x {n} points needs {n * n} copies of a pair, got {len(problem.targets)}")
    coords = coords.to(directions)
    b, a = torch.meshgrid(coords, coords, indexing="ij")
    offsets = a.reshape(-1, 1) * directions[0] + b.reshape(-1, 1) * directions[1]  # (n n, L D)
    targets = problem.targets + offsets.view(problem.targets.shape).to(problem.targets.dtype)
    return problem.per_sample(free_energy(latent, problem, targets).energy).view(n, n).cpu()
