"""The energies of a trained run: of pairs a user gives (``energy`` / ``free_energy`` in the Python API, ``openjepa
energy RUN X Y``), and of true against shuffled pairs from its held-out data (``openjepa energy RUN --pairs N``)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from openjepa.core.device import pick_device
from openjepa.core.errors import DataError, TrainingError
from openjepa.core.protocols import Method, PredictsTargets, WorldModel
from openjepa.eval.energy import Pairs, energies, free_energies, latent_of, pair_problem, transition_problem
from openjepa.modalities.registry import MODALITIES, load_data
from openjepa.objectives.energy import PredictionProblem
from openjepa.runs.build import load_trained_method, random_init_method
from openjepa.runs.config import RunConfig
from openjepa.viz.energy_landscapes import LandscapePanel, save_landscapes

log = logging.getLogger("openjepa")
SPAN = 3.0  # the landscapes' half-width, in standard deviations of the targets along each direction


def _unit(x: torch.Tensor) -> torch.Tensor:
    """uint8 pixels -> floats in [0, 1]; floats as they are."""
    return x.float().div(255) if x.dtype == torch.uint8 else x.float()


def user_problem(method: Method, x: torch.Tensor, y: torch.Tensor,
                 actions: torch.Tensor | None = None) -> PredictionProblem:
    """The problem of pairs a user gives, pixels as uint8 or floats in [0, 1]: images or clips ``x`` and ``y`` of
    one shape (x's first half and y's second, see :func:`~openjepa.eval.energy.splice`), or for a world model
    frames ``x (B, C, H, W)`` / histories ``(B, C, h, H, W)``, the actions after each ``(B, h, A)`` and the next
    frames ``y (B, C, H, W)``."""
    device = next(method.parameters()).device
    x, y = _unit(x).to(device), _unit(y).to(device)
    if isinstance(method, WorldModel):
        if actions is None:
            raise DataError("a world model scores (frames, actions) -> next frame: pass the actions taken")
        return transition_problem(method, x, actions.float().to(device), y)
    if actions is not None:
        raise DataError("actions are for world-model runs; this run predicts the second half of an input from its "
                        "first")
    return pair_problem(method, method.normalize(x), method.normalize(y))


@torch.no_grad()
def pair_energies(run_dir: str | Path, x: torch.Tensor, y: torch.Tensor, actions: torch.Tensor | None = None, *,
                  free: bool = True, device: str = "cpu") -> torch.Tensor:
    """F(x, y) per pair ``(B,)`` with ``free``; else E(x, y, z) under each of the run's starting latents ``(B, R)``
    (its codes, z = 0 for a continuous z, one column without z)."""
    _, method = load_trained_method(run_dir, pick_device(device))
    problem = user_problem(method, x, y, actions)
    return (free_energies if free else energies)(method, problem).cpu()


def run_pairs(method: Method, cfg: RunConfig, count: int) -> Pairs:
    """Up to ``count`` held-out samples of a run's data as :class:`~openjepa.eval.energy.Pairs`: images or clips,
    or for a world model windows spread over the test episodes (history frames, actions, the next frame)."""
    test = load_data(cfg.data, cfg.spec).test
    count = min(count, len(test))
    if count < 2:
        raise DataError(f"the run's held-out data holds {len(test)} samples; shuffled pairs need at least 2")
    if isinstance(method, WorldModel):
        step = max(1, len(test) // count)
        items = [test[i * step] for i in range(count)]  # (frames (C, T, H, W), {"actions", "state", ...})
        h = method.history
        frames = torch.stack([frames for frames, _ in items]).float().div(255)  # (N, C, T, H, W)
        actions = torch.stack([extras["actions"] for _, extras in items])
        return Pairs(method, frames[:, :, :h], actions[:, :h], frames[:, :, h])
    if not isinstance(method, PredictsTargets):
        raise TrainingError(f"a '{cfg.method.name}' run has no predictor of target tokens to score pairs with "
                            f"(I-JEPA and V-JEPA runs and world models have)")
    prepare = MODALITIES.get(cfg.data.modality)().prepare
    return Pairs(method, prepare(torch.stack([test[i][0] for i in range(count)])))


def save_run_landscapes(pairs: Pairs, path: Path, title: str, samples: int = 4) -> Path:
    """``path``: F over a slice of y for the first ``samples`` samples, their true y, their shuffled partner's y
    and the data's y's marked."""
    panels = []
    coords = torch.linspace(-SPAN, SPAN, 31)
    for i, (grid, partner, data) in enumerate(pairs.landscapes(list(range(min(samples, len(pairs)))), coords)):
        marks = {"y of other samples": (data.numpy(), "lightgrey", "."),
                 "shuffled y": (partner.numpy(), "tab:red", "X"), "true y": (np.zeros((1, 2)), "white", "*")}
        panels.append(LandscapePanel(grid.numpy(), -SPAN, SPAN, marks, pairs.picture(i)))
    return save_landscapes(panels, path, title, ("first principal direction of y (std)",
                                                 "second principal direction of y (std)"))


def energy_report(run_dir: str | Path, *, pairs: int = 500, device: str = "auto") -> dict:
    """F of true against shuffled pairs of the run's held-out data (``pairs`` of each), for the trained model and
    its random init: ``auroc``, ``energy_gap`` (mean shuffled minus mean true), the means, ``latent`` (the kind of
    z, ``none`` without one), ``random_init``; and ``RUN/plots/energy_landscapes.png``."""
    device = pick_device(device)
    cfg, method = load_trained_method(run_dir, device)
    held_out = run_pairs(method, cfg, pairs)
    report = held_out.shuffled()
    report["latent"] = latent_of(method).kind
    report["random_init"] = run_pairs(random_init_method(cfg, device), cfg, pairs).shuffled()
    picture = save_run_landscapes(held_out, Path(run_dir) / "plots" / "energy_landscapes.png",
                                  f"{Path(run_dir).name}: F(x, y) over a slice of y through the true y")
    log.info("wrote %s", picture)
    return report
