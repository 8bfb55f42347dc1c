"""How well a forecaster (ThinkJEPA) forecasts a tracked agent's path on held-out clips: average and final
displacement errors (ADE: the mean distance between forecast and true positions over the horizon; FDE: the distance
at its last frame; fractions of the frame's side) of the trained model and of the ablations trained beside it in
the same run, against constant velocity (a line fitted to the true last 4 observed positions, followed on)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

from openjepa.core.errors import TrainingError
from openjepa.core.protocols import Forecasts
from openjepa.eval.registry import EVAL_TASKS
from openjepa.eval.task import EvalContext, EvalTask
from openjepa.modalities.registry import MODALITIES
from openjepa.viz.forecasts import save_forecasts

log = logging.getLogger("openjepa")
CV_FRAMES = 4  # observed positions the constant-velocity baseline fits its line to
ROWS = {"trained": "trained (guided)", "dense_only": "dense only", "thinker_only": "thinker only",
        "constant_velocity": "constant velocity"}
COLOURS = {"past": (170, 170, 170), "true": (255, 255, 255), "trained": (60, 220, 110),
           "dense_only": (255, 150, 40), "constant_velocity": (80, 160, 255)}


def constant_velocity(seen: torch.Tensor, horizon: int, frames: int = CV_FRAMES) -> torch.Tensor:
    """Seen positions ``(B, T, 2)`` -> ``(B, horizon, 2)``: a straight line fitted (least squares) to the last
    ``frames`` positions, followed on at its speed; robust to the jitter that the last step alone would carry."""
    recent = seen[:, -min(frames, seen.shape[1]) :]
    t = torch.arange(recent.shape[1], dtype=seen.dtype) - (recent.shape[1] - 1) / 2
    step = (t[None, :, None] * (recent - recent.mean(1, keepdim=True))).sum(1, keepdim=True) / t.square().sum()
    end = recent.mean(1, keepdim=True) + step * t[-1]
    return end + step * torch.arange(1, horizon + 1, dtype=seen.dtype)[None, :, None]


@EVAL_TASKS.register("forecast")
class Forecast(EvalTask):
    name = "forecast"

    def run(self, ctx: EvalContext) -> dict[str, Any]:
        model, test, ev = ctx.trained, ctx.data.test, ctx.cfg.eval
        if not isinstance(model, Forecasts):
            raise TrainingError(f"{ctx.run_dir}: the forecast task needs a forecaster (a ThinkJEPA run)")
        prepare = MODALITIES.get(ctx.cfg.data.modality)().prepare
        guesses: dict[str, list[torch.Tensor]] = {}
        for start in range(0, len(test), ev.batch_size):
            clips = torch.stack([test[i][0] for i in range(start, min(start + ev.batch_size, len(test)))])
            for name, where in model.forecast(prepare(clips).to(ctx.device)).items():
                guesses.setdefault(name, []).append(where.float().cpu())
        truth = test.positions[:, model.observed : model.observed + model.horizon]
        found = {name: torch.cat(parts) for name, parts in guesses.items()}
        found["constant_velocity"] = constant_velocity(test.positions[:, : model.observed], model.horizon)
        distance = {name: (where - truth).norm(dim=-1) for name, where in found.items()}  # (N, horizon)
        results = {"ade": {name: float(d.mean()) for name, d in distance.items()},
                   "fde": {name: float(d[:, -1].mean()) for name, d in distance.items()}}
        log.info("forecast FDE over %d frames: %s", model.horizon,
                 "  ".join(f"{k} {v:.4f}" for k, v in results["fde"].items()))
        self._shown = found, list(range(min(ev.shown, len(test))))
        results["meta"] = {"clips": len(test), "observed": model.observed, "horizon": model.horizon,
                           "error": "ADE / FDE: mean distance over the horizon / at its last frame between forecast "
                                    "and true positions, in fractions of the frame's side; constant velocity "
                                    f"follows a line fitted to the true last {CV_FRAMES} observed positions"}
        return results

    def table(self, results: dict[str, Any]) -> str:
        meta = results.get("meta", {})
        lines = [f"forecast: {meta.get('clips', '?')} held-out clips, {meta.get('observed', '?')} frames seen, "
                 f"{meta.get('horizon', '?')} forecast", f"{'':22}{'ADE':>10}{'FDE':>10}"]
        for key, title in ROWS.items():
            if key in results["fde"]:
                lines.append(f"{title:22}{results['ade'][key]:>10.4f}{results['fde'][key]:>10.4f}")
        return "\n".join(lines)

    def pictures(self, ctx: EvalContext) -> list[Path]:
        """``plots/forecasts.png``: held-out clips, their first frame beside their last seen one with the seen path,
        the true future and the forecasts of the trained model, the dense-only ablation and constant velocity."""
        found, shown = self._shown
        test, observed = ctx.data.test, ctx.trained.observed
        panels = []
        for i in shown:
            clip, seen = test[i][0].numpy(), test.positions[i, :observed].numpy()
            future = test.positions[i, observed - 1 : observed + ctx.trained.horizon].numpy()
            paths = {"past": (seen, COLOURS["past"]), "true": (future, COLOURS["true"])}
            paths |= {name: (torch.cat([test.positions[i, observed - 1 : observed], found[name][i]]).numpy(),
                             COLOURS[name]) for name in ("trained", "dense_only", "constant_velocity")}
            panels.append((clip[:, 0], clip[:, observed - 1], paths))
        return [save_forecasts(panels, ctx.run_dir / "plots" / "forecasts.png")]
