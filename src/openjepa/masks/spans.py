"""Span masking for token sequences of different lengths: per text, spans of consecutive real tokens are hidden
until a drawn share of its tokens is; the rest is the context. Drawn from the ids themselves (padding, id 0, is never
hidden nor seen), on a generator the caller seeds per batch, so a resumed run draws the same spans.

``ratio: (0, 0)`` and ``span: (1, 1)`` hide exactly one token per text (seed 004's missing word).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class SpanMaskConfig:
    """``ratio``: the share of a text's tokens hidden, drawn uniformly per text (at least one token is hidden and
    one seen); ``span``: each span's length in tokens, drawn uniformly from ``(min, max)``; ``focus_rate``: the share
    of texts whose first hidden token is their focus word when the data marks one (``batch["focus"]``)."""

    ratio: tuple[float, float] = (0.15, 0.3)
    span: tuple[int, int] = (1, 5)
    focus_rate: float = 0.0

    def validate(self) -> None:
        if not 0 <= self.ratio[0] <= self.ratio[1] < 1:
            raise ValueError(f"mask.ratio must be (low, high) with 0 <= low <= high < 1 (something must be seen), "
                             f"got {self.ratio}")
        if not 1 <= self.span[0] <= self.span[1]:
            raise ValueError(f"mask.span must be (min, max) lengths with 1 <= min <= max, got {self.span}")
        if not 0 <= self.focus_rate <= 1:
            raise ValueError(f"mask.focus_rate must lie in [0, 1], got {self.focus_rate}")


def draw_spans(ids: torch.Tensor, config: SpanMaskConfig, gen: torch.Generator,
               focus: torch.Tensor | None = None) -> torch.Tensor:
    """Ids ``(B, L)`` (0 pads) -> hidden ``(B, L)`` bool: spans of real tokens, ``round(ratio * length)`` of them
    (at least 1, at most length - 1; none in a one-token text). ``focus (B,)``: positions hidden first, for a
    ``focus_rate`` share of the texts."""
    B, L = ids.shape
    real = (ids > 0).cpu()
    length = real.sum(1)
    low, high = config.ratio
    share = low + (high - low) * torch.rand(B, generator=gen)
    want = torch.minimum((share * length).round().clamp_min(1), (length - 1).clamp_min(0)).long()
    hidden = torch.zeros(B, L, dtype=torch.bool)
    if focus is not None and config.focus_rate > 0:
        focused = (torch.rand(B, generator=gen) < config.focus_rate) & (want > 0)
        hidden[focused, focus.cpu()[focused]] = True
    position = torch.arange(L)
    for _ in range(4 * L):  # each round lays one span on every text still short of its share
        missing = want - hidden.sum(1)
        if not (missing > 0).any():
            break
        start = (torch.rand(B, generator=gen) * length).long()
        span = torch.randint(config.span[0], config.span[1] + 1, (B,), generator=gen)
        new = ((position >= start[:, None]) & (position < (start + span)[:, None]) & real & ~hidden
               & (missing > 0)[:, None])
        hidden |= new & (new.cumsum(1) <= missing[:, None])
    return hidden.to(ids.device)


def positions_of(chosen: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Chosen positions ``(B, L)`` bool -> their indices ``(B, K)`` in order, K the most chosen in a row, and which
    entries are real ``(B, K)`` (the others point at unchosen positions and must be masked out)."""
    B, L = chosen.shape
    position = torch.arange(L, device=chosen.device)
    order = torch.argsort((~chosen).long() * L + position, dim=1)
    count = chosen.sum(1)
    K = max(int(count.max()), 1)
    return order[:, :K], position[:K] < count[:, None]
