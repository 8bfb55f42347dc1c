"""The classical text baseline: TF-IDF vectors (scikit-learn, fit on the training texts) read by a logistic
regression (SAGA: about 20 times faster than L-BFGS on these sparse rows, the same accuracy to 0.001) and by the
same weighted kNN as learnt features (cosine similarity)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from openjepa.eval.probes import knn_vote

INVERSE_L2 = (1.0, 10.0, 100.0)  # LogisticRegression's C, picked on a held-out tenth of the training texts
FEATURES = "TF-IDF of words and word pairs (sublinear tf, seen in at least 2 training texts)"


def tfidf_vectors(train_texts: list[str], test_texts: list[str]) -> tuple[Any, Any]:
    """Sparse unit-length TF-IDF rows of both splits ``(N, V)``, ``(M, V)``; the vocabulary is the training
    split's."""
    vectorizer = TfidfVectorizer(sublinear_tf=True, min_df=2, ngram_range=(1, 2))
    return vectorizer.fit_transform(train_texts), vectorizer.transform(test_texts)


def tfidf_probes(train_texts: list[str], train_y: torch.Tensor, test_texts: list[str], test_y: torch.Tensor, *,
                 k: int = 20, temperature: float = 0.07, seed: int = 0) -> dict[str, float]:
    """Test accuracy of a logistic regression and of a weighted kNN on TF-IDF vectors."""
    train_x, test_x = tfidf_vectors(train_texts, test_texts)
    ytr, yte = train_y.numpy(), test_y.numpy()
    perm = np.random.default_rng(seed).permutation(len(ytr))
    val, fit = perm[: max(1, len(ytr) // 10)], perm[max(1, len(ytr) // 10) :]

    def logistic(c: float, rows: np.ndarray) -> LogisticRegression:
        return LogisticRegression(C=c, solver="saga", tol=1e-3, max_iter=1000).fit(train_x[rows], ytr[rows])

    best = max(INVERSE_L2, key=lambda c: (logistic(c, fit).score(train_x[val], ytr[val]), -c))
    linear = float(logistic(best, np.arange(len(ytr))).score(test_x, yte))
    num_classes = int(max(ytr.max(), yte.max())) + 1
    correct = 0
    for start in range(0, test_x.shape[0], 512):
        sims = torch.from_numpy((test_x[start : start + 512] @ train_x.T).toarray()).float()
        voted = knn_vote(sims, train_y, num_classes, k=k, temperature=temperature)
        correct += int((voted == test_y[start : start + 512]).sum())
    return {"linear": linear, "knn": correct / len(yte)}
