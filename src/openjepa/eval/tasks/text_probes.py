"""Probes of text runs: linear and kNN on the mean of each text's token features, for the trained encoder and the
same architecture at its random initialisation, beside TF-IDF read by a logistic regression and by the same kNN
(the classical baseline), on the test split's labels."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from openjepa.core.device import uses_bf16
from openjepa.eval.probes import knn_probe, linear_probe
from openjepa.eval.registry import EVAL_TASKS
from openjepa.eval.task import EvalContext
from openjepa.eval.tasks.image_probes import ImageProbes
from openjepa.eval.tfidf import FEATURES as TFIDF_FEATURES
from openjepa.eval.tfidf import tfidf_probes
from openjepa.nn.text_encoder import text_embeddings


@EVAL_TASKS.register("text_probes")
class TextProbes(ImageProbes):
    name = "text_probes"
    samples_are = "texts"
    labelled_files = "PATH/<class>/*.txt, one document per file"
    rows = (("trained", "trained encoder"), ("random_init", "same arch., random init"), ("raw_input", "TF-IDF"))
    probes = (("linear", "linear probe"), ("knn", "kNN (k=20)"))
    features = f"mean of each text's final-layer token features; TF-IDF: {TFIDF_FEATURES}"

    def encoded(self, ctx: EvalContext, train: Any, test: Any) -> dict[str, list[torch.Tensor]]:
        if not ctx.features:
            cfg = ctx.cfg
            bf16 = uses_bf16(cfg.train.precision, ctx.device)
            for name, method in (("trained", ctx.trained), ("random_init", ctx.random_init)):
                encoder = method.eval_encoder(cfg.eval.encoder)
                ctx.features[name] = [text_embeddings(encoder, s.ids, batch_size=cfg.eval.batch_size,
                                                       device=ctx.device, bf16=bf16) for s in (train, test)]
        return ctx.features

    def input_features(self, train: Any, test: Any) -> dict[str, list[torch.Tensor]]:
        return {}

    def input_scores(self, train: Any, test: Any, ev: Any) -> dict[str, dict[str, float]]:
        return {"raw_input": tfidf_probes(train.texts, train.labels, test.texts, test.labels, k=ev.knn_k,
                                          temperature=ev.knn_temperature)}

    def probe(self, train_x: torch.Tensor, train_y: torch.Tensor, test_x: torch.Tensor, test_y: torch.Tensor,
              ev: Any) -> tuple[dict[str, float], dict[str, torch.Tensor]]:
        linear = linear_probe(train_x, train_y, test_x, test_y)
        return {"linear": linear["accuracy"],
                "knn": knn_probe(train_x, train_y, test_x, test_y, k=ev.knn_k, temperature=ev.knn_temperature)
                }, linear["head"]

    def pictures(self, ctx: EvalContext) -> list[Path]:
        return []
