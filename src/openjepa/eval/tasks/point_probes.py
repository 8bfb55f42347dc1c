"""Probes of point-cloud runs: linear, kNN, low-shot and the papers' linear SVM on mean-pooled features of the
trained encoder, its random init and an occupancy grid of the points (the raw-input baseline), on the test split;
a picture of the groups training hides and shows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from openjepa.core.protocols import DrawsMasks
from openjepa.data.shapes3d import occupancy_features
from openjepa.eval.registry import EVAL_TASKS
from openjepa.eval.svm import svm_probe
from openjepa.eval.task import EvalContext
from openjepa.eval.tasks.image_probes import FEATURES, PROBES, ImageProbes, one_per_class
from openjepa.masks.multiblock import masks_of_row
from openjepa.modalities.points import channels_first
from openjepa.viz.point_masks import save_point_masks

OCCUPANCY_GRID = 8


@EVAL_TASKS.register("point_probes")
class PointProbes(ImageProbes):
    name = "point_probes"
    rows = (("trained", "trained encoder"), ("random_init", "same arch., random init"),
            ("raw_input", f"occupancy {OCCUPANCY_GRID}^3"))
    probes = (*PROBES, ("svm", "linear SVM"))
    samples_are = "clouds"
    labelled_files = "PATH/<class>/*.ply"

    def samples(self, split: Any) -> torch.Tensor:
        return channels_first(split.points)

    def probe(self, train_x: torch.Tensor, train_y: torch.Tensor, test_x: torch.Tensor, test_y: torch.Tensor,
              ev: Any) -> tuple[dict[str, float], dict[str, torch.Tensor]]:
        scores, head = super().probe(train_x, train_y, test_x, test_y, ev)
        return {**scores, "svm": svm_probe(train_x, train_y, test_x, test_y)}, head

    def input_features(self, train: Any, test: Any) -> dict[str, list[torch.Tensor]]:
        return {"raw_input": [occupancy_features(s.points, OCCUPANCY_GRID) for s in (train, test)]}

    def run(self, ctx: EvalContext) -> dict[str, Any]:
        results = super().run(ctx)
        results["meta"]["features"] = (f"{FEATURES}; raw input: the share of points "
                                       f"in each cell of an {OCCUPANCY_GRID}^3 grid")
        return results

    def pictures(self, ctx: EvalContext) -> list[Path]:
        """``plots/point_masks.png``: four test clouds with one draw of training's context and target groups."""
        method = ctx.trained
        if not isinstance(method, DrawsMasks):
            return []
        test = ctx.data.test
        picks = one_per_class(test.labels, test.classes, 4)
        with torch.no_grad():
            inputs = method.normalize(self.samples(test.subset(picks)).to(ctx.device))
            drawn = method.draw_masks(inputs, seed=0)
        masks = [(m.context, np.unique(np.concatenate(m.targets))) for m in
                 (masks_of_row(drawn, row) for row in range(len(picks)))]
        return [save_point_masks(inputs.transpose(1, 2).cpu(), drawn["centres"].cpu(), drawn["neighbours"].cpu(),
                                 masks, ctx.run_dir / "plots" / "point_masks.png",
                                 titles=[test.classes[int(test.labels[i])] for i in picks])]
