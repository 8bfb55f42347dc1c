"""How well a language model fine-tuned on view pairs (LLM-JEPA) writes and predicts the second view from the
first, on the test pairs: next-token loss of the second view, mean cosine between the predicted and the actual
embedding of the second view, and R@1 of that prediction among all test pairs' second views; for the trained model
and the model as the run started (the folder's weights, [PRED] embeddings at their start)."""

from __future__ import annotations

import logging
from typing import Any

import torch
import torch.nn.functional as F

from openjepa.core.device import uses_bf16
from openjepa.core.errors import ConfigError
from openjepa.eval.registry import EVAL_TASKS
from openjepa.eval.task import EvalContext, EvalTask
from openjepa.nn.batched import in_batches

log = logging.getLogger("openjepa")
ROWS = (("trained", "trained"), ("random_init", "as the run started"))


def scores(method: Any, ids: torch.Tensor, ctx: EvalContext) -> dict[str, float]:
    """Next-token loss, cosine and R@1 of one model on pairs ``ids (N, 2, L)``."""
    batching = {"batch_size": ctx.cfg.eval.batch_size, "device": ctx.device,
                "bf16": uses_bf16(ctx.cfg.train.precision, ctx.device)}
    losses = in_batches(method, ids, lambda x: method.generation_loss(x[:, 0], x[:, 1])[None], **batching)
    predicted = F.normalize(in_batches(method, ids, lambda x: method.predict_view(x[:, 0]), **batching), dim=-1)
    actual = F.normalize(in_batches(method, ids, lambda x: method.embed_view(x[:, 1]), **batching), dim=-1)
    nearest = (predicted @ actual.T).argmax(1)
    return {"next_token": float(losses.mean()), "cosine": float((predicted * actual).sum(1).mean()),
            "r1": float((nearest == torch.arange(len(ids))).float().mean())}


@EVAL_TASKS.register("view_prediction")
class ViewPrediction(EvalTask):
    name = "view_prediction"

    def run(self, ctx: EvalContext) -> dict[str, Any]:
        test = ctx.data.test
        if not hasattr(ctx.trained, "predict_view"):
            raise ConfigError(f"eval task view_prediction reads a language model trained on view pairs (method "
                              f"llmjepa); this run is {ctx.cfg.method.name}")
        rows = {"trained": scores(ctx.trained, test.ids, ctx), "random_init": scores(ctx.random_init, test.ids, ctx)}
        for name, row in rows.items():
            log.info("%-11s next-token %.3f  cosine %.3f  R@1 %.3f", name, row["next_token"], row["cosine"], row["r1"])
        return {"view_prediction": {**rows, "pairs": len(test), "chance_r1": 1 / len(test)}}

    def table(self, results: dict[str, Any]) -> str:
        entry = results["view_prediction"]
        lines = [f"{entry['pairs']} test pairs: the second view from the first (R@1 chance {entry['chance_r1']:.3f})",
                 f"{'':22}{'next-token loss':>17}{'cosine':>10}{'R@1':>8}"]
        for key, title in ROWS:
            row = entry[key]
            lines.append(f"{title:22}{row['next_token']:>17.3f}{row['cosine']:>10.3f}{row['r1']:>8.3f}")
        return "\n".join(lines)

