"""How well a world model's latents read out the agent's state: ridge readouts of the state from the latents and
from the encoder's mean-pooled features, fitted on frames of training episodes and scored (R^2) on held-out
episodes, for the trained model and its random init."""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
import torch

from openjepa.core.errors import TrainingError
from openjepa.core.protocols import WorldModel
from openjepa.data.trajectories.windows import frames_states
from openjepa.eval.probes import dense_probe
from openjepa.eval.registry import EVAL_TASKS
from openjepa.eval.task import EvalContext, EvalTask

log = logging.getLogger("openjepa")
# the readouts, in features_of's order: the encoder's features before any projection (the representation SSL
# probes by convention), and the latents the predictor and planner work on
READOUTS = {"position_r2_encoder": "encoder", "position_r2": "latents"}


@torch.no_grad()
def features_of(model: WorldModel, frames: torch.Tensor, batch_size: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """The encoder's pooled features ``(N, D)`` of uint8 frames ``(N, C, H, W)``, and the model's latents of them,
    flattened ``(N, Dz)``."""
    model.eval()
    batches = [frames[i : i + batch_size].float().div(255) for i in range(0, len(frames), batch_size)]
    pooled = torch.cat([model.pooled(x) for x in batches])
    latents = torch.cat([model.embed(x).flatten(1) for x in batches])
    return pooled, latents


def ridge_r2(train: tuple[torch.Tensor, torch.Tensor], test: tuple[torch.Tensor, torch.Tensor]) -> float:
    """R^2 on the test pairs of a ridge readout of the state ``(N, S)`` from features ``(N, D)`` fitted on the
    training pairs, averaged over state dimensions."""
    (x_train, y_train), (x_test, y_test) = train, test
    return float(np.mean([dense_probe(x_train[:, None], y_train[:, None, d], x_test[:, None], y_test[:, None, d])
                          for d in range(y_train.shape[1])]))


def evaluate_world(trained: WorldModel, random_init: WorldModel, data: Any, frames: int = 4000) -> dict:
    """``{"position_r2": {"trained", "random_init"}, "position_r2_encoder": {...}}`` on frames of held-out
    episodes; ridge fitted on training episodes."""
    started = time.perf_counter()
    train = frames_states(data.store, max_frames=frames, seed=0, episodes=data.train_episodes)
    test = frames_states(data.store, max_frames=frames // 4, seed=1, episodes=data.test_episodes)
    results = {key: {} for key in READOUTS}
    for name, model in (("trained", trained), ("random_init", random_init)):
        per_readout = zip(features_of(model, train[0]), features_of(model, test[0]))
        for (key, readout), (x_train, x_test) in zip(READOUTS.items(), per_readout):
            results[key][name] = ridge_r2((x_train, train[1]), (x_test, test[1]))
            log.info("%-12s state probe R^2 (%s): %.3f", name, readout, results[key][name])
    results["meta"] = {"dataset": data.name, "train_frames": len(train[0]), "test_frames": len(test[0]),
                       "features": "position_r2: the world model's latents (flattened); position_r2_encoder: the "
                                   "encoder's mean-pooled features; ridge readout of the state",
                       "seconds": round(time.perf_counter() - started, 1)}
    return results


@EVAL_TASKS.register("world_state")
class WorldState(EvalTask):
    name = "world_state"

    def run(self, ctx: EvalContext) -> dict[str, Any]:
        if not isinstance(ctx.trained, WorldModel):
            raise TrainingError(f"{ctx.run_dir}: the world_state task needs a world model")
        if not ctx.data.test_episodes:
            raise TrainingError(f"{ctx.data.name}: no held-out episodes to score on; raise data.test_fraction "
                                f"or record more episodes")
        return evaluate_world(ctx.trained, ctx.random_init, ctx.data, frames=ctx.cfg.eval.readout_frames)

    def table(self, results: dict[str, Any]) -> str:
        """R^2 of the state readout from the latents and from the encoder's features, trained beside random init."""
        latents, encoder = results["position_r2"], results.get("position_r2_encoder", {})
        rows = [f"{'state R^2':<12} {'latents':>9} {'encoder':>9}"]
        rows += [f"{name:<12} {value:>9.3f} " + (f"{encoder[name]:>9.3f}" if name in encoder else f"{'':>9}")
                 for name, value in latents.items()]
        return "\n".join(rows)
