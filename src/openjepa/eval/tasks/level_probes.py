"""Probes of each level of a pyramid encoder (H-JEPA): linear and kNN on one level's mean-pooled features, for the
trained encoder and its random init; the image probes that run before it read all levels concatenated. A picture of
every level's PCA map."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from openjepa.core.errors import ConfigError
from openjepa.eval.features import encoder_features
from openjepa.eval.probes import knn_probe, linear_probe
from openjepa.eval.registry import EVAL_TASKS
from openjepa.eval.task import EvalContext, EvalTask
from openjepa.eval.tasks.image_probes import ImageProbes, check_evaluable, one_per_class, probed_splits
from openjepa.viz.pca import save_pca_figure

log = logging.getLogger("openjepa")
ROWS = (("trained", "trained"), ("random_init", "random init"))


@EVAL_TASKS.register("level_probes")
class LevelProbes(EvalTask):
    name = "level_probes"

    def run(self, ctx: EvalContext) -> dict[str, Any]:
        cfg, ev = ctx.cfg, ctx.cfg.eval
        check_evaluable(ctx.data)
        encoder = ctx.trained.eval_encoder(ev.encoder)
        if not hasattr(encoder, "level_tokens"):
            raise ConfigError(f"eval task level_probes reads a pyramid encoder (method hjepa); method "
                              f"{cfg.method.name} has none")
        train, test = probed_splits(cfg, ctx.data)
        features = ImageProbes().encoded(ctx, train, test)
        levels = []
        for level in range(encoder.levels):
            entry: dict[str, dict[str, float]] = {"linear": {}, "knn": {}}
            for name, _ in ROWS:
                train_x, test_x = (encoder.level_tokens(x, level) for x in features[name])
                entry["linear"][name] = linear_probe(train_x, train.labels, test_x, test.labels)["accuracy"]
                entry["knn"][name] = knn_probe(train_x, train.labels, test_x, test.labels, k=ev.knn_k,
                                               temperature=ev.knn_temperature)
            log.info("level %d      linear %.3f (random %.3f)  knn %.3f (random %.3f)", level,
                     entry["linear"]["trained"], entry["linear"]["random_init"], entry["knn"]["trained"],
                     entry["knn"]["random_init"])
            levels.append(entry)
        return {"levels": levels}

    def table(self, results: dict[str, Any]) -> str:
        lines = ["Per pyramid level (level 0: patches; each further level: cells of twice the side)",
                 f"{'':10}" + "".join(f"{probe + ' ' + title:>26}" for probe in ("linear", "kNN") for _, title in ROWS)]
        for level, entry in enumerate(results["levels"]):
            lines.append(f"{'level ' + str(level):10}" + "".join(
                f"{entry[probe][key]:>26.3f}" for probe in ("linear", "knn") for key, _ in ROWS))
        return "\n".join(lines)

    def pictures(self, ctx: EvalContext) -> list[Path]:
        """``plots/levels_pca.png``: one test image per class, then one row of PCA maps per level of the trained
        encoder (coarse cells drawn over the patches they cover)."""
        test, which = ctx.data.test, ctx.cfg.eval.encoder
        images = test.images[one_per_class(test.labels, test.classes, 10)]
        encoder = ctx.trained.eval_encoder(which)
        tokens = encoder_features(encoder, ctx.trained.normalize, images, pool=False, device=ctx.device)
        rows = {f"level {level}": encoder.level_tokens(tokens, level) for level in range(encoder.levels)}
        return [save_pca_figure(images, rows, encoder.grid, ctx.run_dir / "plots" / "levels_pca.png")]
