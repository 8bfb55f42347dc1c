"""A latent variable z for a predictor: what the context cannot tell about the target (seeds 000 and 001).

Without z, a predictor facing several possible futures learns their average, which matches none of them. With z,
the energy of a pair is E(x, y, z) and its free energy F(x, y) = min_z E(x, y, z). Two kinds of z:

- ``discrete``: one of ``codes`` learned vectors. F is the minimum over the codes; training takes, per sample, the
  code of least energy (winner takes all), with usage balancing: no code may take more than ``capacity`` times its
  fair share of a batch, so every code keeps learning a mode of its own.
- ``continuous``: a vector of ``dim`` values found per sample by ``steps`` proximal gradient steps from zero (ISTA
  with normalised steps: a step of up to ``step_size`` per value, root mean square, down the energy's gradient,
  then soft-thresholding by the step times ``sparsity``; the iterate of least energy is kept), detached before the
  weight update. Normalised steps make the search independent of how strongly the predictor reads z, which changes
  as it learns (plain ISTA at a fixed step leaves z at zero while the predictor's gradient is weaker than the
  threshold, so z never starts to matter). The L1 penalty keeps z sparse, so it carries little.

``regularize: false`` lifts the limit on z's capacity: z is then free in R^dim, refined by ``steps`` normalised
gradient steps with no penalty (from the best code for ``discrete``, from zero for ``continuous``), and can carry
the target itself, so that every y becomes compatible with every x: the energy gap closes. It is there to show
why z must be held down, as the encoders must be held from collapse (SIGReg or VICReg next to it).

z reaches the predictor as ``condition(z)``, a :class:`Conditioning`: an embedding that the predictor adds to its
query tokens (or to its conditioning), and a readout that adds a z-dependent term to its output, a product of the
predictor's last hidden states and z (``rank`` values wide), so that z changes the output directly, as the heads of
multiple-hypothesis predictors do, and not only through the attention layers. The search over z happens in
:meth:`LatentVariable.choose`, on any energy function.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Literal

import torch
from torch import nn

EnergyFn = Callable[[torch.Tensor | None], torch.Tensor]  # z (B, R, dim) or None -> energies (B, R, *rest)


@dataclass
class LatentConfig:
    """A predictor's latent variable (see the module docstring). ``kind``: ``none``, ``discrete`` or
    ``continuous``; ``codes``: how many codes a discrete z has (and how many draws best-of-K evaluations take of
    a continuous one); ``dim``: the size of z; ``capacity``: the most a code may take of a training batch, as a
    multiple of its fair share ``1 / codes`` (0: no balancing); ``rank``: the width of the readout's product of
    hidden states and z; ``steps``, ``step_size``, ``sparsity``: the
    inference of a continuous z (and of a free one); ``regularize``: hold z's capacity down."""

    kind: Literal["none", "discrete", "continuous"] = "none"
    codes: int = 4
    dim: int = 16
    capacity: float = 1.5
    rank: int = 32
    steps: int = 5
    step_size: float = 0.5
    sparsity: float = 0.5
    regularize: bool = True

    def validate(self) -> None:
        if self.kind not in ("none", "discrete", "continuous"):
            raise ValueError(f"method.latent.kind must be none, discrete or continuous, got {self.kind!r}")
        if min(self.codes, self.dim, self.rank) < 1:
            raise ValueError(f"method.latent.codes, dim and rank must be >= 1, got {self.codes}, {self.dim}, "
                             f"{self.rank}")
        if self.capacity != 0 and self.capacity < 1:
            raise ValueError(f"method.latent.capacity must be 0 (no balancing) or >= 1, got {self.capacity}")
        if self.steps < 0 or self.step_size <= 0 or self.sparsity < 0:
            raise ValueError(f"method.latent needs steps >= 0, step_size > 0 and sparsity >= 0, got {self.steps}, "
                             f"{self.step_size}, {self.sparsity}")
        if self.kind == "continuous" and self.steps == 0:
            raise ValueError("a continuous z is found by gradient steps: set method.latent.steps >= 1")


@dataclass
class Conditioning:
    """What latents ``z (B, dim)`` give a predictor: ``embedding (B, width)`` to add to its queries or conditioning,
    and :meth:`readout` to add to its output."""

    embedding: torch.Tensor
    z: torch.Tensor
    latent: LatentVariable

    def readout(self, hidden: torch.Tensor) -> torch.Tensor:
        """The z-dependent output term ``(B, L, out_dim)`` from the predictor's normalised last hidden states
        ``(B, L, width)``."""
        return self.latent.readout(hidden, self.z)


@dataclass
class LatentChoice:
    """The outcome of a search over z: ``energy (B, *rest)`` at each sample's chosen z (with gradients to the
    weights), ``z (B, dim)`` (detached; None without a latent), ``index (B,)`` the chosen code (discrete), and
    values to log."""

    energy: torch.Tensor
    z: torch.Tensor | None = None
    index: torch.Tensor | None = None
    logs: dict[str, torch.Tensor] = field(default_factory=dict)


def soft_threshold(z: torch.Tensor, threshold: float) -> torch.Tensor:
    """The proximal step of ``threshold * |z|_1``: shrink every value toward zero by ``threshold``."""
    return z.sign() * (z.abs() - threshold).clamp_min(0)


def balanced_choice(energies: torch.Tensor, capacity: int) -> torch.Tensor:
    """Per row of ``energies (B, K)`` a column, cheapest first over the whole batch, no column taking more than
    ``capacity`` rows -> ``(B,)``. Greedy: pairs are visited by ascending energy."""
    B, K = energies.shape
    order = energies.detach().flatten().argsort().tolist()
    chosen, taken = [-1] * B, [0] * K
    left = B
    for flat in order:
        row, col = divmod(flat, K)
        if chosen[row] < 0 and taken[col] < capacity:
            chosen[row], taken[col] = col, taken[col] + 1
            left -= 1
            if not left:
                break
    return torch.tensor(chosen, device=energies.device)


class LatentVariable(nn.Module):
    """z for a predictor of width ``width`` whose outputs have ``out_dim`` values: its codes (discrete), the maps
    from z to the predictor's width and to its output (:class:`Conditioning`), and the search over z
    (:meth:`choose`). ``kind == "none"``: no parameters; the energy function is called with None."""

    def __init__(self, config: LatentConfig, width: int, out_dim: int):
        super().__init__()
        config.validate()
        self.config = config
        self.kind = config.kind
        if self.kind == "none":
            return
        self.embed = nn.Linear(config.dim, width)
        nn.init.normal_(self.embed.weight, std=config.dim ** -0.5)
        nn.init.zeros_(self.embed.bias)
        self.read_hidden = nn.Linear(width, config.rank, bias=False)
        self.read_z = nn.Linear(config.dim, config.rank)
        self.read_out = nn.Linear(config.rank, out_dim, bias=False)
        if self.kind == "discrete":
            self.codes = nn.Parameter(torch.randn(config.codes, config.dim))

    @property
    def active(self) -> bool:
        return self.kind != "none"

    def condition(self, z: torch.Tensor | None) -> Conditioning | None:
        """Latents ``(B, R, dim)`` -> the predictor's :class:`Conditioning` of ``B R`` rows, row ``b R + r`` for
        z[b, r]; None stays None."""
        if z is None:
            return None
        flat = z.flatten(0, 1)
        return Conditioning(self.embed(flat), flat, self)

    def readout(self, hidden: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """``hidden (B, L, width)``, ``z (B, dim)`` -> ``(B, L, out_dim)``: (hidden A) * (z C), mapped out."""
        return self.read_out(self.read_hidden(hidden) * self.read_z(z)[:, None])

    def candidates(self, batch: int, device: torch.device) -> torch.Tensor | None:
        """Where the search starts: every code ``(B, K, dim)`` (discrete), zero ``(B, 1, dim)`` (continuous), or
        None."""
        if self.kind == "discrete":
            return self.codes[None].expand(batch, -1, -1)
        if self.kind == "continuous":
            return torch.zeros(batch, 1, self.config.dim, device=device)
        return None

    def choose(self, energy_fn: EnergyFn, batch: int, device: torch.device) -> LatentChoice:
        """Each sample's z of least energy and its energies ``(B, *rest)``: F(x, y) per sample is their mean over
        ``rest``. ``energy_fn`` maps z ``(B, R, dim)`` (or None) to energies ``(B, R, *rest)``. In training
        (``self.training`` and autograd on) discrete codes are balanced (``capacity``)."""
        if self.kind == "none":
            return LatentChoice(energy_fn(None)[:, 0])
        cfg = self.config
        logs: dict[str, torch.Tensor] = {}
        index = None
        if self.kind == "discrete":
            energies = energy_fn(self.candidates(batch, device))  # (B, K, *rest)
            per_code = energies.flatten(2).mean(-1)  # (B, K)
            if self.training and torch.is_grad_enabled() and cfg.capacity:
                index = balanced_choice(per_code, math.ceil(cfg.capacity * batch / cfg.codes))
            else:
                index = per_code.argmin(1)
            usage = torch.bincount(index, minlength=cfg.codes).float() / batch
            logs["code_perplexity"] = torch.exp(-(usage * usage.clamp_min(1e-12).log()).sum())
            if cfg.regularize:
                chosen = energies[torch.arange(batch, device=device), index]
                return LatentChoice(chosen, self.codes[index].detach(), index, logs)
            start = self.codes[index].detach()
        else:
            start = torch.zeros(batch, cfg.dim, device=device)
        z = self._infer(energy_fn, start)
        logs["z_norm"] = z.norm(dim=-1).mean()
        if self.kind == "continuous" and cfg.regularize:
            logs["z_active"] = (z != 0).float().mean()
        return LatentChoice(energy_fn(z[:, None])[:, 0], z, index, logs)

    def _infer(self, energy_fn: EnergyFn, z: torch.Tensor) -> torch.Tensor:
        """``steps`` normalised gradient steps on each sample's mean energy from ``z (B, dim)``, shrinking linearly
        from ``step_size`` to ``step_size / steps`` (coarse to fine), each soft-thresholded when a continuous z is
        regularized; per sample the iterate of least energy (the start included), detached."""
        cfg = self.config
        sparse = self.kind == "continuous" and cfg.regularize
        z = z.detach()
        best, best_energy = z.clone(), torch.full((len(z),), math.inf, device=z.device)
        for k in range(cfg.steps + 1):
            searching = k < cfg.steps
            with torch.set_grad_enabled(searching):  # the last iterate is only scored
                z = z.requires_grad_(searching)
                energy = energy_fn(z[:, None]).flatten(1).mean(-1)  # (B,)
                grad = torch.autograd.grad(energy.sum(), z)[0] if searching else None
            better = energy.detach() < best_energy
            best = torch.where(better[:, None], z.detach(), best)
            best_energy = torch.minimum(energy.detach(), best_energy)
            if not searching:
                break
            step = cfg.step_size * (cfg.steps - k) / cfg.steps
            rms = grad.norm(dim=-1, keepdim=True) * cfg.dim ** -0.5
            z = (z - step * grad / rms.clamp_min(1e-12)).detach()
            if sparse:
                z = soft_threshold(z, step * cfg.sparsity)
        return best.detach()
