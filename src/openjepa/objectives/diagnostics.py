"""Collapse diagnostics on embeddings (no gradients): per-dimension spread and effective rank."""

from __future__ import annotations

import torch


@torch.no_grad()
def token_std(tokens: torch.Tensor) -> torch.Tensor:
    """Std over the batch of each (token position, feature) of ``(B, N, D)``, averaged.

    Falls to ~0 when every image gets the same features at a position, the
    collapse mode of JEPAs whose targets carry only position.
    """
    return tokens.float().std(dim=0).mean()


@torch.no_grad()
def rankme(z: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """Effective rank of ``(N, D)`` embeddings: exp(entropy of normalised singular values), after centring.

    Centring makes it measure the spread of the embeddings, not their shared
    mean (which mean-pooled ViT tokens carry from the position embeddings).
    """
    z = z.float()
    s = torch.linalg.svdvals(z - z.mean(0))
    p = s / (s.sum() + eps) + eps
    return torch.exp(-(p * p.log()).sum())


def diagnosing(batch: dict) -> bool:
    """Whether a step computes its collapse diagnostics: the training loop asks for them only on the steps it logs
    (``batch["diagnose"]``), so the SVD and statistics stay off the other steps; a batch that does not say gets them."""
    return bool(batch.get("diagnose", True))
