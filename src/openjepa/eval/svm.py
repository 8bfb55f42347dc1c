"""The linear SVM protocol of the point-cloud papers (Point-MAE, Point-JEPA): a linear SVM on frozen features,
its ``C`` picked on a held-out tenth of the training split, refitted on all of it."""

from __future__ import annotations

import warnings

import numpy as np
import torch

from openjepa.eval.probes import standardize

C_GRID = (0.001, 0.01, 0.1, 1.0)


def svm_probe(train_x: torch.Tensor, train_y: torch.Tensor, test_x: torch.Tensor, test_y: torch.Tensor,
              c_grid: tuple[float, ...] = C_GRID, seed: int = 0) -> float:
    """Test accuracy of a linear SVM (one-vs-rest, squared hinge) on standardised features ``(N, D)``."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.svm import LinearSVC

    train_x, test_x = (x.double().numpy() for x in standardize(train_x, test_x))
    train_y, test_y = train_y.numpy(), test_y.numpy()
    order = np.random.default_rng(seed).permutation(len(train_x))
    held, fit = order[: max(1, len(order) // 10)], order[max(1, len(order) // 10):]

    def fitted(c: float, rows: np.ndarray) -> LinearSVC:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return LinearSVC(C=c, max_iter=2000, random_state=seed).fit(train_x[rows], train_y[rows])

    best = max(c_grid, key=lambda c: (fitted(c, fit).predict(train_x[held]) == train_y[held]).mean())
    return float((fitted(best, order).predict(test_x) == test_y).mean())
