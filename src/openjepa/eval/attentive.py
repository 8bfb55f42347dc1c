"""Attentive probes on frozen token features ``(N, L, D)``: learned queries cross-attend to the tokens.

``self_attention_layers=0`` is V-JEPA's probe (one query, one cross-attention
block, then a linear classifier); ``3`` is V-JEPA 2's (three self-attention blocks
over the tokens before the cross-attention block). The probe trains with AdamW and
a cosine schedule on the training split, optionally on augmented views of each item; its
weight decay and warmup are picked on a held-out tenth of it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from openjepa.nn.block import MLP, Block, init_weights
from openjepa.optim.schedules import warmup_cosine


class CrossAttentionBlock(nn.Module):
    """Queries ``(B, Q, D)`` attend to tokens ``(B, L, D)``; pre-norm, residual, then an MLP.

    The keys and values are never formed. A query's score for a token is ``q_h . (W_k,h LN(x) + b_k,h)``, which
    is ``(gamma * W_k,h^T q_h) . x_hat`` plus terms equal for every token (they cancel in the softmax), with
    ``x_hat`` the token LayerNormed without affine; its output is ``W_v,h (gamma * sum_j a_j x_hat_j + beta) +
    b_v,h`` since the weights ``a`` sum to one. For a few queries that costs ``Q x heads`` dot products per token
    instead of a ``D x 2D`` projection of every token: the same parameters and the same maths, about 50x fewer
    FLOPs for V-JEPA's one-query probe on 192-d tokens."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float = 4.0):
        super().__init__()
        self.heads = heads
        self.norm_q, self.norm_kv = nn.LayerNorm(dim, eps=1e-6), nn.LayerNorm(dim, eps=1e-6)
        self.q, self.kv, self.proj = nn.Linear(dim, dim), nn.Linear(dim, 2 * dim), nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = MLP(dim, int(dim * mlp_ratio))

    def forward(self, queries: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        B, Q, D = queries.shape
        h = self.heads
        w_k, w_v = self.kv.weight.view(2, h, D // h, D)  # (h, d, D) each: rows of the key and value projections
        gamma, beta = self.norm_kv.weight, self.norm_kv.bias
        x_hat = F.layer_norm(tokens, (D,), eps=self.norm_kv.eps)  # (B, L, D)
        q = self.q(self.norm_q(queries)).view(B, Q, h, D // h)
        u = torch.einsum("bqhe,hed->bqhd", q, w_k) * gamma  # (B, Q, h, D): each head's query read in token space
        weights = (torch.einsum("bqhd,bld->bqhl", u, x_hat) * (D // h) ** -0.5).softmax(-1)  # (B, Q, h, L)
        pooled = torch.einsum("bqhl,bld->bqhd", weights, x_hat) * gamma + beta  # sum_j a_j LN(x_j)
        values = torch.einsum("bqhd,hed->bqhe", pooled, w_v) + self.kv.bias[D:].view(h, D // h)
        queries = queries + self.proj(values.reshape(B, Q, D))
        return queries + self.mlp(self.norm2(queries))


class AttentiveClassifier(nn.Module):
    """Tokens ``(B, L, D)`` -> logits ``(B, classes)`` through a learned query."""

    def __init__(self, dim: int, classes: int, heads: int = 4, self_attention_layers: int = 0):
        super().__init__()
        self.blocks = nn.ModuleList(Block(dim, heads) for _ in range(self_attention_layers))
        self.query = nn.Parameter(torch.zeros(1, 1, dim))
        self.pool = CrossAttentionBlock(dim, heads)
        self.head = nn.Linear(dim, classes)
        self.apply(init_weights)
        nn.init.trunc_normal_(self.query, std=0.02)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            tokens = block(tokens)
        return self.head(self.pool(self.query.expand(len(tokens), -1, -1), tokens)[:, 0])


@dataclass
class AttentiveProbeConfig:
    """Training of an attentive probe; every pair of ``weight_decays`` and ``warmups`` is tried on a held-out
    tenth of the training split, and the best pair trains the probe on all of it.

    ``lr`` None: 1e-3 for V-JEPA's probe; 3e-4 with a linear warmup over the first tenth of the steps when there
    are self-attention blocks (at 1e-3 without warmup, V-JEPA 2's probe stayed at chance on 192-d video tokens
    where V-JEPA's read 0.53). ``warmups``: fractions of the steps spent warming up, None for the default. The
    schedule that suits an encoder's tokens differs: on direction, V-JEPA's probe without warmup read one trained
    video encoder 6 points higher than with a tenth of warmup, and its random init 3 points lower (docs/results.md).
    """

    self_attention_layers: int = 0
    heads: int = 4
    epochs: int = 20
    batch_size: int = 128
    lr: float | None = None
    warmups: tuple[float | None, ...] = (None,)
    weight_decays: tuple[float, ...] = (0.01, 0.1)
    seed: int = 0

    def schedule(self, warmup: float | None = None) -> tuple[float, float]:
        """``(peak learning rate, warmup fraction)`` after defaults."""
        blocks = self.self_attention_layers > 0
        lr = self.lr if self.lr is not None else (3e-4 if blocks else 1e-3)
        warmup = warmup if warmup is not None else (0.1 if blocks else 0.0)
        return lr, warmup


def _token_stats(train: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-feature ``(mean, std)`` ``(D,)`` of (up to 4096 items' worth of) the training tokens ``(N, [V,] L, D)``."""
    flat = train[: 4096].flatten(0, -2)[: 4096 * train.shape[-2]].float()
    return flat.mean(0), flat.std(0).clamp_min(1e-6)


def _train(x: torch.Tensor, y: torch.Tensor, classes: int, cfg: AttentiveProbeConfig,
           weight_decay: float, warmup: float | None) -> AttentiveClassifier:
    """A probe trained on tokens ``x (N, V, L, D)`` with labels ``y (N, V)``: each epoch shows every item
    once, in one of its V views drawn at random."""
    torch.manual_seed(cfg.seed)
    model = AttentiveClassifier(x.shape[-1], classes, cfg.heads, cfg.self_attention_layers)
    lr, warmup = cfg.schedule(warmup)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay, fused=True)  # one kernel a tensor
    steps = cfg.epochs * math.ceil(len(x) / cfg.batch_size)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, partial(warmup_cosine, total=steps, warmup=round(warmup * steps)))
    gen = torch.Generator().manual_seed(cfg.seed)
    n, views = x.shape[:2]
    model.train()
    for _ in range(cfg.epochs):
        view = torch.randint(views, (n,), generator=gen) if views > 1 else torch.zeros(n, dtype=torch.long)
        for idx in torch.randperm(len(x), generator=gen).split(cfg.batch_size):
            loss = F.cross_entropy(model(x[idx, view[idx]].float()), y[idx, view[idx]])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    return model.eval()


@torch.no_grad()
def _accuracy(model: AttentiveClassifier, views: list[torch.Tensor], y: torch.Tensor) -> float:
    """Accuracy of the class probabilities averaged over ``views``, each ``(N, L, D)``."""
    probs = sum(torch.cat([model(chunk.float()).softmax(1) for chunk in x.split(512)]) for x in views)
    return float((probs.argmax(1) == y).float().mean())


def attentive_probe(train_x: torch.Tensor, train_y: torch.Tensor, test_x: torch.Tensor | list[torch.Tensor],
                    test_y: torch.Tensor, config: AttentiveProbeConfig | None = None) -> dict[str, Any]:
    """Test accuracy of an attentive probe on tokens ``(N, L, D)`` with integer labels ``(N,)``, and the probe:
    ``model`` (an :class:`AttentiveClassifier`) reads tokens standardised by ``mean`` and ``std`` ``(D,)``.

    ``train_x`` may also hold V augmented views of each item, ``(N, V, L, D)`` with labels ``(N, V)`` (e.g. the
    clip flipped, and its label turned with it): each epoch trains on one view per item, drawn at random.
    ``test_x`` may be a list of views ``(N, L, D)`` of the same items (e.g. several clips per video); the
    probe's class probabilities are averaged over them.
    """
    cfg = config or AttentiveProbeConfig()
    views = [test_x] if torch.is_tensor(test_x) else list(test_x)
    if train_x.ndim == 3:
        train_x, train_y = train_x[:, None], train_y[:, None]
    if train_x.ndim != 4 or train_y.shape != train_x.shape[:2] or not views or \
            any(v.ndim != 3 or v.shape[1:] != train_x.shape[2:] or len(v) != len(test_y) for v in views):
        raise ValueError(f"attentive probes need token features (N, L, D) (or (N, V, L, D) views with labels "
                         f"(N, V)) of one shape and one test label per item, got {tuple(train_x.shape)}, labels "
                         f"{tuple(train_y.shape)}, test {[tuple(v.shape) for v in views]}, labels "
                         f"{tuple(test_y.shape)}")
    mean, std = _token_stats(train_x)
    train_x, *views = [((x.float() - mean) / std).to(x.dtype) for x in (train_x, *views)]  # dtypes kept
    classes = int(max(train_y.max(), test_y.max())) + 1
    perm = torch.randperm(len(train_x), generator=torch.Generator().manual_seed(cfg.seed))
    n_val = max(classes, len(train_x) // 10)
    val, fit = perm[:n_val], perm[n_val:]
    grid = [(wd, warmup) for wd in cfg.weight_decays for warmup in cfg.warmups]
    if len(grid) > 1:
        scores = {pair: _accuracy(_train(train_x[fit], train_y[fit], classes, cfg, *pair), [train_x[val, 0]],
                                  train_y[val, 0]) for pair in grid}
        best = max(grid, key=lambda pair: scores[pair])  # ties: the first pair listed
    else:
        best = grid[0]
    model = _train(train_x, train_y, classes, cfg, *best)
    return {"accuracy": _accuracy(model, views, test_y), "weight_decay": best[0], "warmup": cfg.schedule(best[1])[1],
            "model": model, "mean": mean, "std": std}
