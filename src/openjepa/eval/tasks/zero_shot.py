"""What a vision-to-text predictor reads from images, with no probe trained: zero-shot classification (the class
whose prompt embeds nearest to the prediction) and caption retrieval (the test split's distinct captions ranked by
cosine to the prediction; R@k: a true caption among the k nearest), for the trained model and its random init,
beside chance."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from openjepa.core.device import uses_bf16
from openjepa.core.errors import ConfigError, DataError
from openjepa.core.protocols import EmbedsText
from openjepa.data.captions import CaptionedImages
from openjepa.eval.registry import EVAL_TASKS
from openjepa.eval.task import EvalContext, EvalTask
from openjepa.nn.batched import in_batches
from openjepa.viz.captions import save_caption_grid

log = logging.getLogger("openjepa")
ROWS = (("trained", "trained"), ("random_init", "same arch., random init"))


def predicted_embeddings(method: Any, images: torch.Tensor, *, batch_size: int = 512,
                         device: torch.device | str = "cpu", bf16: bool = False) -> torch.Tensor:
    """Unit-length predicted caption embeddings ``(N, E)`` of uint8 images ``(N, C, H, W)``."""
    out = in_batches(method, images, lambda x: method.embed_images(x.float() / 255), batch_size=batch_size,
                     device=device, bf16=bf16)
    return F.normalize(out, dim=-1)


@torch.no_grad()
def unit_text_embeddings(method: Any, texts: list[str]) -> torch.Tensor:
    """Unit-length text embeddings ``(N, E)`` on the CPU."""
    return F.normalize(torch.cat([method.embed_texts(texts[i : i + 4096]).float().cpu()
                                  for i in range(0, len(texts), 4096)]), dim=-1)


def nearest_captions(method: Any, images: torch.Tensor, pool: list[str], k: int,
                     **batching: Any) -> list[list[tuple[str, float]]]:
    """The ``k`` texts of ``pool`` nearest each uint8 image's prediction, with their cosine, nearest first
    (``batching``: as :func:`predicted_embeddings`)."""
    scores = predicted_embeddings(method, images, **batching) @ unit_text_embeddings(method, pool).T
    top = scores.topk(min(k, len(pool)))
    return [[(pool[j], float(s)) for s, j in zip(vals, idx)] for vals, idx in zip(top.values.tolist(),
                                                                                   top.indices.tolist())]


def recall_at(has: torch.Tensor, ranked: torch.Tensor, ks: tuple[int, ...]) -> dict[int, float]:
    """Share of rows whose ``k`` first ranked columns hold a true one: ``has (M, U)`` bool, ``ranked (M, U)``
    column indices best first; k beyond U counts all U."""
    first_true = has.gather(1, ranked).float().argmax(1)  # the rank of the first true column (0 when none is)
    found = has.any(1)
    return {k: float((found & (first_true < k)).float().mean()) for k in ks}


def _batching(ctx: EvalContext) -> dict[str, Any]:
    return {"batch_size": ctx.cfg.eval.batch_size, "device": ctx.device,
            "bf16": uses_bf16(ctx.cfg.train.precision, ctx.device)}


@EVAL_TASKS.register("zero_shot")
class ZeroShot(EvalTask):
    name = "zero_shot"

    def run(self, ctx: EvalContext) -> dict[str, Any]:
        test = ctx.data.test
        if not isinstance(ctx.trained, EmbedsText) or not isinstance(test, CaptionedImages):
            raise ConfigError(f"eval task zero_shot reads a vision-to-text model (method vljepa) on captioned "
                              f"images (data.modality image_text); this run is {ctx.cfg.method.name} on "
                              f"{ctx.data.name}")
        if not len(test):
            raise DataError(f"{ctx.data.name} has no test images: zero-shot evaluation reads the test split "
                            f"(data.test_fraction > 0)")
        pool, has = test.unique_captions()  # (U,), (M, U)
        labelled = test.labeled and len(test.prompts) >= 2
        zero_shot: dict[str, Any] = {}
        retrieval: dict[str, Any] = {}
        for name, method in (("trained", ctx.trained), ("random_init", ctx.random_init)):
            images = predicted_embeddings(method, test.images, **_batching(ctx))  # (M, E)
            ranked = (images @ unit_text_embeddings(method, pool).T).argsort(1, descending=True)  # (M, U)
            hits = recall_at(has, ranked, (1, 5))
            retrieval[name] = {"r1": hits[1], "r5": hits[5]}
            if labelled:
                guess = (images @ unit_text_embeddings(method, test.prompts).T).argmax(1)
                zero_shot[name] = float((guess == test.labels).float().mean())
            log.info("%-11s zero-shot %s  caption R@1 %.3f  R@5 %.3f", name,
                     f"{zero_shot[name]:.3f}" if labelled else "n/a", retrieval[name]["r1"], retrieval[name]["r5"])
        results: dict[str, Any] = {
            "retrieval": {"r1": retrieval["trained"]["r1"], "r5": retrieval["trained"]["r5"],
                          "random_init": retrieval["random_init"], "captions": len(pool),
                          "chance_r1": float(has.sum(1).float().mean() / len(pool))},
            "meta": {"text_encoder": ctx.trained.text_encoder_name},
        }
        if labelled:
            results["zero_shot"] = {**zero_shot, "chance": 1 / len(test.prompts), "classes": len(test.prompts),
                                    "prompts": list(test.prompts)}
        return results

    def pictures(self, ctx: EvalContext) -> list[Path]:
        """``plots/captions.png``: eight test images with their true caption and the three nearest of the test
        split's captions."""
        test = ctx.data.test
        pool, _ = test.unique_captions()
        images = test.images[:8]
        guesses = nearest_captions(ctx.trained, images, pool, 3, **_batching(ctx))
        return [save_caption_grid(images, test.captions[:8], guesses, ctx.run_dir / "plots" / "captions.png")]

    def table(self, results: dict[str, Any]) -> str:
        r = results["retrieval"]
        z = results.get("zero_shot")
        lines = [f"no probe: zero-shot by class prompts{'' if z else ' (no classes)'}; caption retrieval among the "
                 f"{r['captions']} distinct test captions (chance R@1 {r['chance_r1']:.4f})"]
        if z:
            lines[0] += f"; zero-shot chance {z['chance']:.3f}"
        lines.append(f"{'':26}{'zero-shot':>12}{'R@1':>10}{'R@5':>10}")
        for key, title in ROWS:
            row = r if key == "trained" else r[key]
            shot = f"{z[key]:>12.3f}" if z else f"{'n/a':>12}"
            lines.append(f"{title:26}{shot}{row['r1']:>10.3f}{row['r5']:>10.3f}")
        return "\n".join(lines)
