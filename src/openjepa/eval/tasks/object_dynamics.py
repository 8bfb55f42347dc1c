"""What an object-slot model (Causal-JEPA) knows of dynamics: where objects go after a collision, and what happens
when an object is taken out of the scene.

- ``future_state_error``: on held-out windows whose first predicted frame follows a collision, the mean distance
  (box sides) between each colliding object's true position and the position read from its predicted slot, over
  ``eval.horizon`` frames; beside constant velocity (the last two observed positions extrapolated) and the random
  init. Positions are read from slots by a least-squares readout fitted on training slots.
- ``counterfactual_accuracy``: a held-out scene is simulated again from its first frame without one ball; where
  that leaves the history of the others unchanged but changes their future, the model is shown the new history
  and its prediction is scored right when it lies nearer the re-simulated future than the original one (for each
  object whose two futures part by more than a ball's radius).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch

from openjepa.core.errors import ConfigError
from openjepa.data.bouncing_balls import BallScenes, render, without_ball
from openjepa.data.object_slots import mask_pooled_slots
from openjepa.eval.registry import EVAL_TASKS
from openjepa.eval.task import EvalContext, EvalTask
from openjepa.viz.object_rollouts import save_object_rollouts

log = logging.getLogger("openjepa")
ROWS = (("trained", "trained"), ("random_init", "random init"), ("constant_velocity", "constant velocity"))


def position_readout(slots: torch.Tensor, states: torch.Tensor) -> torch.Tensor:
    """Least-squares map ``(F + 1, 2)`` from slots ``(..., F)`` (with a bias) to positions ``states[..., :2]``."""
    x = torch.cat([slots.reshape(-1, slots.shape[-1]), torch.ones(slots[..., :1].numel(), 1)], 1).double()
    return torch.linalg.lstsq(x, states[..., :2].reshape(-1, 2).double()).solution.float()


def read_positions(slots: torch.Tensor, readout: torch.Tensor) -> torch.Tensor:
    return slots @ readout[:-1] + readout[-1]


def collision_windows(collided: torch.Tensor, history: int, horizon: int, limit: int) -> list[tuple[int, int]]:
    """(scene, start) of windows of ``history + horizon`` frames whose frame ``start + history`` ends a collision
    of some object, at most ``limit``, in scene order."""
    S, T, _ = collided.shape
    hits = collided[:, history : T - horizon + 1].any(-1).nonzero().tolist()
    return [(s, start) for s, start in hits][:limit]


class Scorer:
    """Rolls a method out on raw slot windows ``(B, T, N, F)`` and reads positions from the slots."""

    def __init__(self, readout: torch.Tensor, history: int, horizon: int):
        self.readout, self.history, self.horizon = readout, history, horizon

    @torch.no_grad()
    def future(self, method: Any, raw: torch.Tensor) -> torch.Tensor:
        """Predicted positions ``(B, horizon, N, 2)`` from the first ``history`` frames of raw slots."""
        slots = method.slots(raw.permute(0, 3, 1, 2))
        pred = method.rollout(slots[:, : self.history], self.horizon)
        mean, std = method.normalize.mean.flatten(), method.normalize.std.flatten()
        return read_positions(pred * std + mean, self.readout)

    def constant_velocity(self, raw: torch.Tensor) -> torch.Tensor:
        """Positions ``(B, horizon, N, 2)``: the last seen one moved on by the last seen step."""
        positions = read_positions(raw[:, : self.history], self.readout)
        last, step = positions[:, -1:], positions[:, -1:] - positions[:, -2:-1]
        return last + step * torch.arange(1, self.horizon + 1, dtype=raw.dtype)[None, :, None, None]


@EVAL_TASKS.register("object_dynamics")
class ObjectDynamics(EvalTask):
    name = "object_dynamics"

    def run(self, ctx: EvalContext) -> dict[str, Any]:
        cfg, ev = ctx.cfg, ctx.cfg.eval
        history = cfg.method.history
        horizon = min(ev.horizon, cfg.spec.frames - history)
        train, test = ctx.data.train, ctx.data.test
        readout = position_readout(train.slots[:500], train.states[:500])
        scorer = Scorer(readout, history, horizon)
        windows = collision_windows(test.collided, history, horizon, ev.windows)
        if not windows:
            raise ConfigError(f"no held-out window of {history} + {horizon} frames follows a collision; use more "
                              f"data.test_scenes or longer data.scene_frames")
        raw = torch.stack([test.slots[s, start : start + history + horizon] for s, start in windows])
        ahead = [(s, slice(start + history, start + history + horizon)) for s, start in windows]
        truth = torch.stack([test.states[s, frames, :, :2] for s, frames in ahead])
        hit = torch.stack([test.collided[s, start + history] for s, start in windows])  # (W, N)
        guesses = {"trained": scorer.future(ctx.trained, raw), "random_init": scorer.future(ctx.random_init, raw),
                   "constant_velocity": scorer.constant_velocity(raw)}
        errors = {name: float(((g - truth).norm(dim=-1).mean(1) * hit).sum() / hit.sum())
                  for name, g in guesses.items()}
        log.info("future position error over %d frames after a collision: %s", horizon,
                 "  ".join(f"{k} {v:.4f}" for k, v in errors.items()))
        counterfactual = self.counterfactuals(ctx, scorer, history, horizon, ev.counterfactuals)
        shown = list(range(0, len(windows), max(1, len(windows) // 4)))[:4]  # windows of different scenes
        self._shown = (truth[shown], guesses["trained"][shown], [windows[i] for i in shown], test)
        return {"future_state_error": errors, "counterfactual_accuracy": counterfactual.pop("trained"),
                "counterfactual": counterfactual,
                "meta": {"windows": len(windows), "horizon": horizon, "history": history,
                         "error": "mean distance in box sides between true and predicted positions of the objects "
                                  "that collide as the prediction starts"}}

    def counterfactuals(self, ctx: EvalContext, scorer: Scorer, history: int, horizon: int,
                        limit: int) -> dict[str, float]:
        """Accuracy of trained, random init and constant velocity on scenes re-simulated without one ball."""
        cfg, test = ctx.cfg, ctx.data.test
        if cfg.data.dataset != "balls":
            raise ConfigError("counterfactuals re-simulate the scene: the objects' data must be the built-in 'balls'")
        scenes = BallScenes(test.states.numpy(), test.radii, test.colours, test.collided.numpy())
        cases, frames = [], history + horizon
        for index in range(len(scenes)):
            for ball in range(scenes.states.shape[2]):
                states, _ = without_ball(scenes, index, ball)
                others = np.delete(scenes.states[index], ball, axis=1)
                same_past = np.abs(states[:history] - others[:history]).max() < 1e-5
                parted = np.linalg.norm(states[history:frames, :, :2] - others[history:frames, :, :2], axis=-1)
                if same_past and (parted[-1] > scenes.radii[index].mean()).any():
                    cases.append((index, ball, states[:frames], others[history:frames, :, :2], parted[-1]))
                    break
            if len(cases) >= limit:
                break
        if not cases:
            return {"trained": float("nan"), "random_init": float("nan"), "constant_velocity": float("nan"),
                    "cases": 0}
        radii = np.stack([np.delete(test.radii[i], b) for i, b, *_ in cases])
        colours = np.stack([np.delete(test.colours[i], b, axis=0) for i, b, *_ in cases])
        frames_, objects = render(np.stack([c[2] for c in cases]), radii, colours, cfg.data.image_size)
        raw = torch.from_numpy(mask_pooled_slots(frames_, objects, radii.shape[1]))
        new_future = torch.from_numpy(np.stack([c[2][history:, :, :2] for c in cases]))
        old_future = torch.from_numpy(np.stack([c[3] for c in cases]))
        affected = torch.from_numpy(np.stack([c[4] for c in cases]) > radii.mean(1, keepdims=True))
        guesses = {"trained": scorer.future(ctx.trained, raw), "random_init": scorer.future(ctx.random_init, raw),
                   "constant_velocity": scorer.constant_velocity(raw)}
        scores = {}
        for name, guess in guesses.items():
            nearer = (guess - new_future).norm(dim=-1).mean(1) < (guess - old_future).norm(dim=-1).mean(1)
            scores[name] = float((nearer & affected).sum() / affected.sum())
        log.info("counterfactual accuracy on %d scenes: %s", len(cases),
                 "  ".join(f"{k} {v:.3f}" for k, v in scores.items()))
        return {**scores, "cases": len(cases)}

    def table(self, results: dict[str, Any]) -> str:
        meta = results.get("meta", {})
        lines = [f"balls: {meta.get('windows', '?')} held-out windows, {meta.get('history', '?')} frames seen, "
                 f"{meta.get('horizon', '?')} predicted after a collision",
                 f"{'':22}{'position error':>18}{'counterfactual acc.':>22}"]
        counter = {**results.get("counterfactual", {}), "trained": results.get("counterfactual_accuracy")}
        for key, title in ROWS:
            error, accuracy = results["future_state_error"][key], counter.get(key, float("nan"))
            lines.append(f"{title:22}{error:>18.4f}{accuracy:>22.3f}")
        return "\n".join(lines)

    def pictures(self, ctx: EvalContext) -> list[Path]:
        """``plots/object_rollouts.png``: held-out windows at their last seen frame, each object's mask outlined,
        its true future path (white) and the predicted one (its colour)."""
        truth, predicted, windows, test = self._shown
        history = ctx.cfg.method.history
        images = []
        for (scene, start), true_path, guess in zip(windows, truth, predicted):
            frame = start + history - 1
            frames, objects = render(test.states[scene, frame : frame + 1].numpy(), test.radii[scene],
                                     test.colours[scene], ctx.cfg.data.image_size)
            images.append((frames[0], objects[0], true_path.numpy(), guess.numpy(), test.colours[scene]))
        return [save_object_rollouts(images, ctx.run_dir / "plots" / "object_rollouts.png")]
