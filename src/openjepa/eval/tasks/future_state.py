"""What a policy's predicted latents know about the future: ridge readouts of the true states of the next ``chunk``
observations from the latents it predicts for them, beside the same readout from the latent of the current
observation and the goal (what the prediction is made from); fitted on windows of training episodes, scored (R^2,
mean over the chunk's steps and state dimensions) on held-out episodes."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch

from openjepa.core.errors import TrainingError
from openjepa.core.protocols import ActsInChunks
from openjepa.eval.registry import EVAL_TASKS
from openjepa.eval.task import EvalContext, EvalTask
from openjepa.eval.tasks.world_state import ridge_r2

log = logging.getLogger("openjepa")


@torch.no_grad()
def window_features(model: Any, windows: Any, count: int, seed: int,
                    batch_size: int = 256) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """For ``count`` windows drawn from ``windows`` (seeded): predicted latents ``(N, k / s D)``, the current
    observation's latent with the goal ``(N, D + G)`` (what the prediction was made from) and the true future states
    ``(N, k S)``."""
    k = model.chunk
    rows = np.sort(np.random.default_rng(seed).choice(len(windows), size=min(count, len(windows)), replace=False))
    predicted, current, future = [], [], []
    for start in range(0, len(rows), batch_size):
        items = [windows[int(i)] for i in rows[start : start + batch_size]]
        frames = torch.stack([frames for frames, _ in items])[:, :, 0].float().div(255)
        state = torch.stack([extra["state"] for _, extra in items])
        goal = torch.stack([extra["goal"] for _, extra in items])[:, 0] if "goal" in items[0][1] else None
        _, latents = model.decode(frames, state[:, 0], goal)
        predicted.append(latents.flatten(1))
        latent = model.observation.latent(model.normalize(frames), state[:, 0])
        current.append(latent if goal is None else torch.cat([latent, goal], 1))
        future.append(state[:, 1 : k + 1].flatten(1))  # every step of the chunk, whatever the latent stride
    return torch.cat(predicted).float(), torch.cat(current).float(), torch.cat(future)


@EVAL_TASKS.register("future_state")
class FutureState(EvalTask):
    name = "future_state"

    def run(self, ctx: EvalContext) -> dict[str, Any]:
        model = ctx.trained
        if not isinstance(model, ActsInChunks):
            raise TrainingError(f"{ctx.run_dir}: the future_state task needs a policy that predicts action chunks")
        if not ctx.data.test_episodes:
            raise TrainingError(f"{ctx.data.name}: no held-out episodes to score on; raise data.test_fraction")
        model.eval()
        count = ctx.cfg.eval.readout_frames
        train = window_features(model, ctx.data.train, count, seed=0)
        test = window_features(model, ctx.data.test, max(1, count // 4), seed=1)
        results = {"future_state_r2": {
            "predicted": ridge_r2((train[0], train[2]), (test[0], test[2])),
            "current": ridge_r2((train[1], train[2]), (test[1], test[2])),
        }}
        log.info("future-state probe R^2: predicted latents %.3f, current latent %.3f",
                 results["future_state_r2"]["predicted"], results["future_state_r2"]["current"])
        results["meta"] = {"future_state": f"ridge readouts of the states of the next {model.chunk} observations "
                                           f"from the predicted latents and from the current observation's latent "
                                           f"with the goal; "
                                           f"{len(train[0])} training windows, {len(test[0])} held-out"}
        return results

    def table(self, results: dict[str, Any]) -> str:
        r2 = results["future_state_r2"]
        return (f"{'future state R^2':<22} {'value':>7}\n{'predicted latents':<22} {r2['predicted']:>7.3f}\n"
                f"{'current latent':<22} {r2['current']:>7.3f}")
