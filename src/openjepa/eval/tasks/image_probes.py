"""Linear, kNN and low-shot probes of mean-pooled features: the trained encoder, the same architecture at its random
initialisation and the raw input, on the test split; plus RankMe and a PCA map of patch features."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

from openjepa.core.device import uses_bf16
from openjepa.core.errors import DataError
from openjepa.eval.features import encoder_features, raw_features
from openjepa.eval.probes import knn_probe, linear_probe, lowshot_probe
from openjepa.eval.registry import EVAL_TASKS
from openjepa.eval.saved_probe import probe_artifact
from openjepa.eval.task import EvalContext, EvalTask
from openjepa.objectives.diagnostics import rankme
from openjepa.viz.pca import save_pca_figure

log = logging.getLogger("openjepa")
ROWS = (("trained", "trained encoder"), ("random_init", "same arch., random init"), ("raw_input", "raw pixels"))
PROBES = (("linear", "linear probe"), ("knn", "kNN (k=20)"), ("lowshot", "low-shot (10/class)"))
FEATURES = "mean-pooled final-layer tokens (standardised for the linear probes, unit length for kNN)"


def check_evaluable(data: Any, samples: str = "images", files: str = "PATH/<class>/*.png") -> None:
    """Refuse data on which accuracy means nothing: no labels, no test split, or fewer than two classes.
    ``samples`` names what the data holds, ``files`` how labelled ones are laid out."""
    if data.train.labeled and not len(data.test):
        raise DataError(f"{data.name} has no test split: evaluation needs test {samples} (PATH/test/<class>/... "
                        f"beside PATH/train/<class>/..., or class folders straight under PATH, split for you)")
    if not (data.train.labeled and data.test.labeled):
        raise DataError(f"{data.name}: evaluation needs labelled {samples} ({files}, or train/ and test/ folders "
                        f"holding class folders)")
    if len(data.train.classes) < 2:
        raise DataError(f"{data.name} has one class ({data.train.classes[0]}): accuracy would be 1.0 whatever the "
                        f"features; evaluation needs at least two classes")


def probe_all(train_x: torch.Tensor, train_y: torch.Tensor, test_x: torch.Tensor, test_y: torch.Tensor,
              ev: Any) -> tuple[dict[str, float], dict[str, torch.Tensor]]:
    """Linear, kNN and low-shot accuracy of one feature set, with the settings of ``eval`` (``ev``), and the
    fitted linear head (:func:`~openjepa.eval.probes.linear_probe`)."""
    linear = linear_probe(train_x, train_y, test_x, test_y)
    return {
        "linear": linear["accuracy"],
        "knn": knn_probe(train_x, train_y, test_x, test_y, k=ev.knn_k, temperature=ev.knn_temperature),
        "lowshot": lowshot_probe(train_x, train_y, test_x, test_y, per_class=ev.lowshot_per_class,
                                 repeats=ev.lowshot_repeats),
    }, linear["head"]


def probed_splits(cfg: Any, data: Any) -> tuple[Any, Any]:
    """The train and test splits the probes read: at most ``eval.max_train`` training samples (a fixed random
    subset), the whole test split."""
    train = data.train
    if cfg.eval.max_train and len(train) > cfg.eval.max_train:
        keep = torch.randperm(len(train), generator=torch.Generator().manual_seed(0))[: cfg.eval.max_train]
        train = train.subset(keep)
    return train, data.test


def one_per_class(labels: torch.Tensor, classes: list[str], limit: int) -> list[int]:
    """Indices of the first sample of each class that has one, at most ``limit`` of them."""
    return [int((labels == c).nonzero()[0]) for c in range(len(classes)) if (labels == c).any()][:limit]


def row_title(key: str, title: str, meta: dict) -> str:
    """Row titles; the trained row names the probed encoder (``meta["encoder"]``) when the results say."""
    return f"trained {meta['encoder']} encoder" if key == "trained" and meta.get("encoder") else title


@EVAL_TASKS.register("image_probes")
class ImageProbes(EvalTask):
    name = "image_probes"
    rows = ROWS
    probes = PROBES
    samples_are = "images"
    labelled_files = "PATH/<class>/*.png"
    features = FEATURES

    def run(self, ctx: EvalContext) -> dict[str, Any]:
        cfg, data = ctx.cfg, ctx.data
        self.check(data)
        train, test = probed_splits(cfg, data)
        feature_sets = {**self.encoded(ctx, train, test), **self.input_features(train, test)}
        results: dict = {"rankme": {}}
        rows = {}
        for name, (train_x, test_x) in feature_sets.items():
            rows[name], head = self.probe(train_x, train.labels, test_x, test.labels, cfg.eval)
            if name == "trained":
                ctx.artifacts["probe"] = probe_artifact("linear", head, train.classes,
                                                        ctx.trained.eval_encoder(cfg.eval.encoder),
                                                        encoder=cfg.eval.encoder, label="class")
            results["rankme"][name] = float(rankme(test_x[:2048]))
        rows.update(self.input_scores(train, test, cfg.eval))
        for name, scores in rows.items():
            for probe, value in scores.items():
                results.setdefault(probe, {})[name] = value
            log.info("%-11s %s", name, "  ".join(f"{probe} {value:.3f}" for probe, value in scores.items()))
        results["meta"] = {"dataset": data.name, "train_images": len(train), "test_images": len(test),
                           "classes": len(train.classes), "features": self.features}
        return results

    def check(self, data: Any) -> None:
        """Refuse data the probes cannot score (:func:`check_evaluable`)."""
        check_evaluable(data, self.samples_are, self.labelled_files)

    def input_scores(self, train: Any, test: Any, ev: Any) -> dict[str, dict[str, float]]:
        """Baselines scored from the inputs by probes of their own (not read as features): row name -> scores."""
        return {}

    def encoded(self, ctx: EvalContext, train: Any, test: Any) -> dict[str, list[torch.Tensor]]:
        """Pooled features ``[train (N, D), test (M, D)]`` of the trained and the random-init encoder (rows
        ``trained``, ``random_init``), computed once per evaluation (kept in ``ctx.features``)."""
        if not ctx.features:
            cfg = ctx.cfg
            bf16 = uses_bf16(cfg.train.precision, ctx.device)
            for name, method in (("trained", ctx.trained), ("random_init", ctx.random_init)):
                encoder = method.eval_encoder(cfg.eval.encoder)
                ctx.features[name] = [encoder_features(encoder, method.normalize, self.samples(s),
                                                       batch_size=cfg.eval.batch_size, device=ctx.device, bf16=bf16)
                                      for s in (train, test)]
        return ctx.features

    def samples(self, split: Any) -> torch.Tensor:
        """What the encoder reads of a split (here: its images)."""
        return split.images

    def probe(self, train_x: torch.Tensor, train_y: torch.Tensor, test_x: torch.Tensor, test_y: torch.Tensor,
              ev: Any) -> tuple[dict[str, float], dict[str, torch.Tensor]]:
        """The probes' accuracies on one feature set, and the fitted linear head."""
        return probe_all(train_x, train_y, test_x, test_y, ev)

    def input_features(self, train: Any, test: Any) -> dict[str, list[torch.Tensor]]:
        """The baselines read from the inputs themselves: row name -> ``[train features, test features]``."""
        return {"raw_input": [raw_features(s.images) for s in (train, test)]}

    def pictures(self, ctx: EvalContext) -> list[Path]:
        """``plots/pca.png``: one test image per class, then PCA maps of trained and random-init patch features."""
        test, which = ctx.data.test, ctx.cfg.eval.encoder
        images = test.images[one_per_class(test.labels, test.classes, 10)]
        rows = {name: encoder_features(m.eval_encoder(which), m.normalize, images, pool=False, device=ctx.device)
                for name, m in (("trained", ctx.trained), ("random_init", ctx.random_init))}
        return [save_pca_figure(images, rows, ctx.trained.eval_encoder(which).grid, ctx.run_dir / "plots" / "pca.png")]

    def table(self, results: dict[str, Any]) -> str:
        meta = results.get("meta", {})
        probes = [(p, title) for p, title in self.probes if p in results]
        lines = [f"{meta.get('dataset', '?')}: {meta.get('train_images', '?')} train / "
                 f"{meta.get('test_images', '?')} test {self.samples_are}, {meta.get('classes', '?')} classes "
                 f"(test-split accuracy)",
                 f"{'':26}" + "".join(f"{title:>22}" for _, title in probes)]
        for key, title in self.rows:
            lines.append(f"{row_title(key, title, meta):26}" + "".join(f"{results[p][key]:>22.3f}" for p, _ in probes))
        return "\n".join(lines)
