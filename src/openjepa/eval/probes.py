"""Probes on frozen features ``(N, D)``: linear (logistic regression), kNN, low-shot; and the dense probe, a ridge
regression from token features ``(N, L, D)`` to per-token targets.

The linear and low-shot probes standardise features with the training split's mean and std first, so the trained
encoder, the random-init encoder and raw pixels are read the same way. kNN reads the features as they are, each
vector scaled to unit length (DINO's protocol): standardising first would give every dimension the same say, the
near-constant ones included, and the neighbours of an encoder whose variance sits in a few dimensions (low RankMe)
would be picked by noise.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

WEIGHT_DECAYS = (1e-5, 1e-4, 1e-3, 1e-2)


def feature_stats(train: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-feature ``(mean, std)`` ``(D,)`` of training features ``(N, D)``, the std kept from 0."""
    return train.mean(0), train.std(0).clamp_min(1e-6)


def standardize(train: torch.Tensor, *others: torch.Tensor) -> list[torch.Tensor]:
    mean, std = feature_stats(train)
    return [(x - mean) / std for x in (train, *others)]


def fit_logistic(x: torch.Tensor, y: torch.Tensor, num_classes: int, weight_decay: float,
                 max_iter: int = 300) -> torch.nn.Linear:
    """Multinomial logistic regression by full-batch L-BFGS: mean CE + ``weight_decay`` * ||W||^2."""
    model = torch.nn.Linear(x.shape[1], num_classes)
    torch.nn.init.zeros_(model.weight)
    torch.nn.init.zeros_(model.bias)
    opt = torch.optim.LBFGS(model.parameters(), lr=1.0, max_iter=max_iter, history_size=20,
                            line_search_fn="strong_wolfe", tolerance_grad=1e-6, tolerance_change=1e-9)

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y) + weight_decay * model.weight.square().sum()
        loss.backward()
        return loss

    opt.step(closure)
    return model


@torch.no_grad()
def accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    return float((model(x).argmax(1) == y).float().mean())


def linear_probe(train_x: torch.Tensor, train_y: torch.Tensor, test_x: torch.Tensor, test_y: torch.Tensor,
                 *, seed: int = 0) -> dict[str, Any]:
    """Test accuracy of a logistic regression whose L2 strength is picked on 10% of the training split, and the
    fitted ``head`` on unstandardised features: ``weight (K, D)``, ``bias (K,)``, ``mean``, ``std (D,)``, logits
    ``((x - mean) / std) @ weight.T + bias``."""
    mean, std = feature_stats(train_x)
    train_x, test_x = (train_x - mean) / std, (test_x - mean) / std
    num_classes = int(max(train_y.max(), test_y.max())) + 1
    perm = torch.randperm(len(train_x), generator=torch.Generator().manual_seed(seed))
    n_val = max(num_classes, len(train_x) // 10)
    val, fit = perm[:n_val], perm[n_val:]
    scores = {wd: accuracy(fit_logistic(train_x[fit], train_y[fit], num_classes, wd), train_x[val], train_y[val])
              for wd in WEIGHT_DECAYS}
    best = max(scores, key=lambda wd: (scores[wd], wd))
    model = fit_logistic(train_x, train_y, num_classes, best)
    head = {"weight": model.weight.detach(), "bias": model.bias.detach(), "mean": mean, "std": std}
    return {"accuracy": accuracy(model, test_x, test_y), "weight_decay": best, "head": head}


@torch.no_grad()
def knn_vote(sims: torch.Tensor, train_y: torch.Tensor, num_classes: int, *, k: int = 20,
             temperature: float = 0.07) -> torch.Tensor:
    """Classes ``(M,)`` voted by each query's ``k`` most similar training samples, given the similarities ``(M, N)``
    to all of them (votes ``exp(sim / T)``, as in DINO's evaluation)."""
    top, idx = sims.topk(min(k, sims.shape[1]), dim=1)
    votes = torch.zeros(len(idx), num_classes).scatter_add_(1, train_y[idx], (top / temperature).exp())
    return votes.argmax(1)


@torch.no_grad()
def knn_probe(train_x: torch.Tensor, train_y: torch.Tensor, test_x: torch.Tensor, test_y: torch.Tensor,
              *, k: int = 20, temperature: float = 0.07) -> float:
    """Weighted kNN on the cosine similarity of the features (:func:`knn_vote`)."""
    train_x, test_x = F.normalize(train_x.float(), dim=1), F.normalize(test_x.float(), dim=1)
    num_classes = int(max(train_y.max(), test_y.max())) + 1
    correct = 0
    for start in range(0, len(test_x), 1024):
        voted = knn_vote(test_x[start : start + 1024] @ train_x.T, train_y, num_classes, k=k, temperature=temperature)
        correct += int((voted == test_y[start : start + 1024]).sum())
    return correct / len(test_x)


def lowshot_probe(train_x: torch.Tensor, train_y: torch.Tensor, test_x: torch.Tensor, test_y: torch.Tensor,
                  *, per_class: int = 10, repeats: int = 5, weight_decay: float = 1e-2, seed: int = 0) -> float:
    """Mean test accuracy of logistic regressions fit on ``per_class`` labelled examples per class."""
    train_x, test_x = standardize(train_x, test_x)
    num_classes = int(max(train_y.max(), test_y.max())) + 1
    gen = torch.Generator().manual_seed(seed)
    scores = []
    for _ in range(repeats):
        picks = []
        for c in range(num_classes):
            members = (train_y == c).nonzero().flatten()
            picks.append(members[torch.randperm(len(members), generator=gen)[:per_class]])
        chosen = torch.cat(picks)
        model = fit_logistic(train_x[chosen], train_y[chosen], num_classes, weight_decay)
        scores.append(accuracy(model, test_x, test_y))
    return sum(scores) / len(scores)


def dense_probe(train_x: torch.Tensor, train_y: torch.Tensor, test_x: torch.Tensor, test_y: torch.Tensor,
                ridges: tuple[float, ...] = (1e-2, 1.0, 1e2, 1e4)) -> float:
    """R^2 beyond position of a ridge regression from each token's features ``(N, L, D)`` to a per-token
    target ``(N, L)`` or ``(N, L, K)`` (the mean of the K outputs' R^2); the ridge strength is picked on a
    held-out tenth of the training clips.

    Features and targets are centred per token position (means of the training clips), so the probe reads
    only what the features say about the content at a position: 0 is what knowing the position alone
    predicts (an absolute position table scores nothing for itself), 1 is the exact target.
    """
    n_val = max(1, len(train_x) // 10)
    x_mean, y_mean = train_x[n_val:].float().mean(0), train_y[n_val:].float().mean(0)  # (L, D), (L[, K])

    def flat(x, y):
        return (x.float() - x_mean).flatten(0, 1), (y.float() - y_mean).flatten(0, 1)

    (xf, yf), (xv, yv), (xt, yt) = flat(train_x[n_val:], train_y[n_val:]), flat(train_x[:n_val], train_y[:n_val]), \
        flat(test_x, test_y)
    std = xf.std(0).clamp_min(1e-6)

    def fit(x, y, ridge):
        x = (x / std).double()
        gram = x.T @ x + ridge * torch.eye(x.shape[1], dtype=torch.float64)
        return torch.linalg.solve(gram, x.T @ y.double())

    def r2(w, x, y):
        error = ((x / std).double() @ w - y).reshape(len(y), -1)
        return float((1 - error.square().sum(0) / y.reshape(len(y), -1).square().sum(0).clamp_min(1e-12)).mean())

    best = max(ridges, key=lambda r: r2(fit(xf, yf, r), xv, yv))
    x_all, y_all = flat(train_x, train_y)
    return r2(fit(x_all, y_all, best), xt, yt)
