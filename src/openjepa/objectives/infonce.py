"""Bidirectional InfoNCE between two sets of embeddings whose rows pair up (image i with caption i).

loss = ½ (CE(s · A Bᵀ, pairs) + CE(s · B Aᵀ, pairs)) on unit-length rows, s the logit scale (1 / temperature).
Rows known to match besides the diagonal (two images with the same caption) are positives too: each row's loss is
-log of the softmax mass on its positives, so a duplicate caption is never pushed away as a negative. Negatives are
the rows of the local batch (no gathering across processes). Computed in float32, also under autocast.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def infonce(a: torch.Tensor, b: torch.Tensor, scale: torch.Tensor | float,
            positives: torch.Tensor | None = None) -> torch.Tensor:
    """``a (B, D)``, ``b (B, D')`` with D = D' -> scalar loss; ``positives (B, B)`` bool, row i of ``a`` matches
    row j of ``b`` (default: the diagonal; it must hold the diagonal)."""
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"infonce pairs rows of two (B, D) tensors, got {tuple(a.shape)} and {tuple(b.shape)}")
    if positives is None:
        positives = torch.eye(len(a), dtype=torch.bool, device=a.device)
    with torch.autocast(a.device.type, enabled=False):  # float32 logits whatever the caller's precision
        logits = scale * F.normalize(a.float(), dim=-1) @ F.normalize(b.float(), dim=-1).T  # (B, B)

        def one_way(scores: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
            return (scores.logsumexp(1) - scores.masked_fill(~pos, float("-inf")).logsumexp(1)).mean()

        return 0.5 * (one_way(logits, positives) + one_way(logits.T, positives.T))


def same_text(texts: list[str], device: torch.device | None = None) -> torch.Tensor:
    """``(B, B)`` bool: texts i and j are equal."""
    ids = {t: i for i, t in enumerate(dict.fromkeys(texts))}
    code = torch.tensor([ids[t] for t in texts], device=device)
    return code[:, None] == code[None, :]
