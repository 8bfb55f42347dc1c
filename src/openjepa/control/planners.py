"""Planners over action sequences, batched over B problems at once.

Every planner minimises ``cost(actions (B, S, H, A)) -> (B, S)`` over sequences of H actions
in ``[low, high]`` and returns ``(B, H, A)`` plus the cost of what it returns. ``init``
``(B, H, A)`` warm-starts the search (model-predictive control passes the last plan shifted
by one step). Draws come from a ``torch.Generator``, so a seeded plan is repeatable.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from openjepa.control.registry import PLANNERS
from openjepa.core.errors import ConfigError, suggest

Cost = Callable[[torch.Tensor], torch.Tensor]


@dataclass
class PlanResult:
    actions: torch.Tensor  # (B, H, A)
    cost: torch.Tensor  # (B,)


def _check(batch: int, horizon: int, action_dim: int, init: torch.Tensor | None) -> None:
    if min(batch, horizon, action_dim) < 1:
        raise ValueError(f"batch, horizon and action_dim must be >= 1, got {batch}, {horizon}, {action_dim}")
    if init is not None and tuple(init.shape) != (batch, horizon, action_dim):
        raise ValueError(f"init must be (batch, horizon, action_dim) = {(batch, horizon, action_dim)}, "
                         f"got {tuple(init.shape)}")


def _cheapest(candidates: torch.Tensor, costs: torch.Tensor) -> PlanResult:
    """The cheapest of ``candidates (B, S, H, A)`` by ``costs (B, S)``."""
    i = costs.argmin(1)
    rows = torch.arange(len(costs))
    return PlanResult(candidates[rows, i], costs[rows, i])


@PLANNERS.register("cem")
@dataclass
class CEM:
    """Cross-entropy method: sample ``samples`` sequences from a diagonal Gaussian, refit it to the
    ``elites`` cheapest, ``iterations`` times; ``momentum`` keeps that share of the old mean and std.
    Returns the best sequence seen."""

    samples: int = 300
    elites: int = 30
    iterations: int = 30
    init_std: float = 1.0
    min_std: float = 0.05
    momentum: float = 0.0
    low: float = -1.0
    high: float = 1.0

    def plan(self, cost: Cost, batch: int, horizon: int, action_dim: int, init: torch.Tensor | None = None,
             generator: torch.Generator | None = None) -> PlanResult:
        _check(batch, horizon, action_dim, init)
        if not 0 < self.elites <= self.samples:
            raise ValueError(f"CEM needs 0 < elites <= samples, got {self.elites} and {self.samples}")
        mean = torch.zeros(batch, horizon, action_dim) if init is None else init.clone()
        std = torch.full_like(mean, self.init_std)
        best = None
        for _ in range(self.iterations):
            noise = torch.randn((batch, self.samples, horizon, action_dim), generator=generator)
            candidates = (mean[:, None] + std[:, None] * noise).clamp(self.low, self.high)
            candidates[:, 0] = mean.clamp(self.low, self.high)  # the current mean always competes
            c = cost(candidates)
            order = c.argsort(1)[:, : self.elites]
            elite = torch.gather(candidates, 1, order[..., None, None].expand(-1, -1, horizon, action_dim))
            step = _cheapest(candidates, c)
            best = step if best is None else _keep_better(best, step)
            mean = self.momentum * mean + (1 - self.momentum) * elite.mean(1)
            std = (self.momentum * std + (1 - self.momentum) * elite.std(1)).clamp_min(self.min_std)
        return best


@PLANNERS.register("mppi")
@dataclass
class MPPI:
    """Model-predictive path integral: sample around the mean with std ``noise_std``, average the samples
    weighted by ``softmax(-cost / temperature)`` (cost standardised per problem), ``iterations`` times."""

    samples: int = 300
    iterations: int = 10
    noise_std: float = 0.5
    temperature: float = 0.5
    low: float = -1.0
    high: float = 1.0

    def plan(self, cost: Cost, batch: int, horizon: int, action_dim: int, init: torch.Tensor | None = None,
             generator: torch.Generator | None = None) -> PlanResult:
        _check(batch, horizon, action_dim, init)
        if self.temperature <= 0:
            raise ValueError(f"MPPI temperature must be > 0, got {self.temperature}")
        mean = torch.zeros(batch, horizon, action_dim) if init is None else init.clone()
        best = None
        for _ in range(self.iterations):
            noise = torch.randn((batch, self.samples, horizon, action_dim), generator=generator)
            candidates = (mean[:, None] + self.noise_std * noise).clamp(self.low, self.high)
            candidates[:, 0] = mean.clamp(self.low, self.high)
            c = cost(candidates)
            scaled = (c - c.mean(1, keepdim=True)) / c.std(1, keepdim=True).clamp_min(1e-8)
            weights = torch.softmax(-scaled / self.temperature, dim=1)
            mean = (weights[..., None, None] * candidates).sum(1)
            step = _cheapest(candidates, c)
            best = step if best is None else _keep_better(best, step)
        final = mean[:, None].clamp(self.low, self.high)
        return _keep_better(best, _cheapest(final, cost(final)))


@PLANNERS.register("grad")
@dataclass
class GradientPlanner:
    """Adam on ``samples`` action sequences per problem (random starts, the warm start among them), kept
    in bounds by a tanh; returns the cheapest after ``iterations`` steps. ``cost`` must be differentiable."""

    samples: int = 16
    iterations: int = 30
    lr: float = 0.1
    low: float = -1.0
    high: float = 1.0

    def plan(self, cost: Cost, batch: int, horizon: int, action_dim: int, init: torch.Tensor | None = None,
             generator: torch.Generator | None = None) -> PlanResult:
        _check(batch, horizon, action_dim, init)
        centre, half = (self.high + self.low) / 2, (self.high - self.low) / 2
        start = torch.rand((batch, self.samples, horizon, action_dim), generator=generator) * 2 - 1
        if init is not None:
            start[:, 0] = ((init - centre) / half).clamp(-0.999, 0.999)
        raw = torch.atanh(start.clamp(-0.999, 0.999)).requires_grad_(True)
        opt = torch.optim.Adam([raw], lr=self.lr)
        for _ in range(self.iterations):
            with torch.enable_grad():
                opt.zero_grad(set_to_none=True)
                cost(centre + half * torch.tanh(raw)).sum().backward()
            opt.step()
        with torch.no_grad():
            final = centre + half * torch.tanh(raw)
            return _cheapest(final, cost(final))


def _keep_better(a: PlanResult, b: PlanResult) -> PlanResult:
    better = b.cost < a.cost
    return PlanResult(torch.where(better[:, None, None], b.actions, a.actions), torch.where(better, b.cost, a.cost))


def make_planner(name: str, **kwargs) -> CEM | MPPI | GradientPlanner:
    """A registered planner by name with settings ``kwargs`` (whole numbers may come as floats from a config)."""
    cls = PLANNERS.get(name)
    fields = cls.__dataclass_fields__
    unknown = sorted(set(kwargs) - set(fields))
    if unknown:
        raise ConfigError(f"{name} planner has no setting {unknown[0]}{suggest(unknown[0], list(fields), 'settings')}")
    try:
        return cls(**{k: int(v) if fields[k].type == "int" else v for k, v in kwargs.items()})
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{name} planner settings {kwargs}: {err}") from None
