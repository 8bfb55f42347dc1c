"""What a motion-and-content model (MC-JEPA) learnt of each.

- ``flow``: end-point error in pixels of the flow between consecutive frames of held-out clips, against the true
  motion of the built-in sprites (the sprite's displacement inside its mask, the camera's pan elsewhere, zero on a
  still background), over every pixel (``epe``) and over the sprite's (``epe_moving``); beside zero flow, the random
  init, block matching (the flow head's matcher on pixels alone, 7-pixel patches within 2 pixels, from zero flow,
  untrained: what the learnt parts add is the difference) and, when OpenCV imports, Farnebäck's classical flow on
  the same frames. Clips read from files carry no true motion; the entry is then left out.
- ``linear``: a linear probe of the first frame's mean-pooled features on the clips' content label (the sprites'
  ``shape``, a folder's classes), beside the random init and the frame's raw pixels; folders of videos too.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch

from openjepa.core.errors import ConfigError
from openjepa.eval.features import as_unit_float
from openjepa.eval.probes import linear_probe
from openjepa.eval.registry import EVAL_TASKS
from openjepa.eval.task import EvalContext, EvalTask
from openjepa.nn.flow_head import block_matching
from openjepa.objectives.flow_losses import endpoint_error
from openjepa.viz.flow import save_flow_sheet

log = logging.getLogger("openjepa")
FLOW_CLIPS = 200  # held-out clips whose consecutive frame pairs are scored
BATCH = 128
ROWS = (("trained", "trained"), ("random_init", "random init"), ("zero", "zero flow"),
        ("block_matching", "block matching"), ("farneback", "Farnebäck"), ("raw_input", "raw pixels"))


@torch.no_grad()
def method_flows(estimate: Any, clips: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Flows ``(N, T - 1, 2, H, W)`` between consecutive frames of uint8 clips ``(N, C, T, H, W)`` by
    ``estimate(first, second)`` (frames ``(B, C, H, W)`` in [0, 1], e.g. a method's ``flow``)."""
    N, C, T, H, W = clips.shape
    frames = as_unit_float(clips).permute(0, 2, 1, 3, 4)  # (N, T, C, H, W)
    first, second = frames[:, :-1].reshape(-1, C, H, W), frames[:, 1:].reshape(-1, C, H, W)
    flows = [estimate(first[i : i + BATCH].to(device), second[i : i + BATCH].to(device)).float().cpu()
             for i in range(0, len(first), BATCH)]
    return torch.cat(flows).reshape(N, T - 1, 2, H, W)


def farneback_flows(clips: torch.Tensor) -> torch.Tensor | None:
    """OpenCV's Farnebäck flow between consecutive grey frames (its defaults for small images), or None without
    OpenCV."""
    try:
        import cv2
    except ImportError:
        return None
    grey = (clips.float().mean(1)).round().to(torch.uint8).numpy()  # (N, T, H, W)
    flows = [[cv2.calcOpticalFlowFarneback(clip[t], clip[t + 1], None, 0.5, 2, 7, 3, 5, 1.1, 0)
              for t in range(clip.shape[0] - 1)] for clip in grey]
    return torch.from_numpy(np.asarray(flows, np.float32)).permute(0, 1, 4, 2, 3)


@torch.no_grad()
def frame_features(method: Any, frames: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Mean-pooled features ``(N, D)`` of uint8 frames ``(N, C, H, W)``."""
    frames = as_unit_float(frames)
    return torch.cat([method.frame_tokens(frames[i : i + BATCH].to(device)).mean(1).float().cpu()
                      for i in range(0, len(frames), BATCH)])


def first_frames(split: Any, limit: int) -> tuple[torch.Tensor, torch.Tensor, str]:
    """The first frames ``(N, C, H, W)`` of up to ``limit`` clips of a split, their content labels ``(N,)`` and
    the label's name: ``shape`` for the sprites, else the split's primary label (a folder's classes)."""
    if hasattr(split, "clips"):
        name = "shape" if "shape" in split.labels else split.primary
        return split.clips[:limit, :, 0], split.labels[name][:limit], name
    items = [split[i] for i in range(min(limit, len(split)))]
    return torch.stack([clip[:, 0] for clip, _ in items]), torch.tensor([label for _, label in items]), "class"


@EVAL_TASKS.register("motion_content")
class MotionContent(EvalTask):
    name = "motion_content"

    def run(self, ctx: EvalContext) -> dict[str, Any]:
        train, test = ctx.data.train, ctx.data.test
        if not hasattr(ctx.trained, "flow") or not hasattr(ctx.trained, "frame_tokens"):
            raise ConfigError(f"eval task motion_content reads a model of flow and frames (method mcjepa); method "
                              f"{ctx.cfg.method.name} has none")
        if not len(test):
            raise ConfigError("eval task motion_content needs a test split: give the data train/ and test/ folders "
                              "or data.test_fraction > 0")
        results: dict[str, Any] = {}
        if hasattr(test, "masks"):
            results["flow"] = self.flow(ctx, test)
        else:
            log.info("these clips carry no true motion: the flow's end-point error is measured on the built-in sprites")
        train_x, train_y, label = first_frames(train, ctx.cfg.eval.max_train or len(train))
        test_x, test_y, _ = first_frames(test, len(test))
        linear = {name: linear_probe(frame_features(method, train_x, ctx.device), train_y,
                                     frame_features(method, test_x, ctx.device), test_y)["accuracy"]
                  for name, method in (("trained", ctx.trained), ("random_init", ctx.random_init))}
        linear["raw_input"] = linear_probe(as_unit_float(train_x).flatten(1), train_y,
                                           as_unit_float(test_x).flatten(1), test_y)["accuracy"]
        log.info("content (%s) linear probe: %s", label, "  ".join(f"{k} {v:.3f}" for k, v in linear.items()))
        results["linear"] = linear
        results["meta"] = {"content_label": label, "probed_train": len(train_x), "probed_test": len(test_x)}
        return results

    def flow(self, ctx: EvalContext, test: Any) -> dict[str, float]:
        scored = test.subset(torch.arange(min(FLOW_CLIPS, len(test))))
        clips, truth, moving = scored.clips, scored.true_flow(), scored.masks[:, :-1]
        guesses = {"trained": method_flows(ctx.trained.flow, clips, ctx.device),
                   "random_init": method_flows(ctx.random_init.flow, clips, ctx.device),
                   "zero": torch.zeros_like(truth),
                   "block_matching": method_flows(block_matching, clips, ctx.device)}
        farneback = farneback_flows(clips)
        if farneback is not None:
            guesses["farneback"] = farneback
        flat = truth.flatten(0, 1)
        scores = {}
        for name, guess in guesses.items():
            scores[f"epe_{name}" if name != "trained" else "epe"] = float(endpoint_error(guess.flatten(0, 1), flat))
            scores[f"epe_moving_{name}" if name != "trained" else "epe_moving"] = float(
                endpoint_error(guess.flatten(0, 1), flat, moving.flatten(0, 1)))
        log.info("flow end-point error (px) on %d held-out clips, all pixels / sprite: %s", len(clips),
                 "  ".join(f"{k} {scores['epe' + s]:.3f} / {scores['epe_moving' + s]:.3f}"
                           for k, s in ((k, "" if k == "trained" else f"_{k}") for k in guesses)))
        self._shown = (clips[:4], truth[:4], guesses["trained"][:4], guesses.get("farneback"))
        return {**scores, "pairs": int(flat.shape[0])}

    def table(self, results: dict[str, Any]) -> str:
        lines = []
        flow = results.get("flow")
        if flow:
            lines += [f"flow between consecutive frames, {flow['pairs']} held-out pairs: end-point error (px)",
                      f"{'':22}{'all pixels':>14}{'sprite':>14}"]
            for key, title in ROWS[:5]:
                suffix = "" if key == "trained" else f"_{key}"
                if f"epe{suffix}" in flow:
                    lines.append(f"{title:22}{flow['epe' + suffix]:>14.3f}{flow['epe_moving' + suffix]:>14.3f}")
        meta = results.get("meta", {})
        lines.append(f"content: linear probe of the first frame on '{meta.get('content_label', '?')}'")
        for key, title in (ROWS[0], ROWS[1], ROWS[5]):
            lines.append(f"{title:22}{results['linear'][key]:>14.3f}")
        return "\n".join(lines)

    def pictures(self, ctx: EvalContext) -> list[Path]:
        """``plots/flow.png``: per held-out clip, its first two frames, the true flow, the trained model's and
        (with OpenCV) Farnebäck's, coloured by direction (hue) and speed (saturation)."""
        if not hasattr(self, "_shown"):
            return []
        clips, truth, predicted, farneback = self._shown
        rows = []
        for i in range(len(clips)):
            row = [clips[i, :, 0].numpy(), clips[i, :, 1].numpy(), truth[i, 0].numpy(), predicted[i, 0].numpy()]
            rows.append(row + ([farneback[i, 0].numpy()] if farneback is not None else []))
        top = float(truth.norm(dim=2).max().clamp_min(1.0))
        return [save_flow_sheet(rows, ctx.run_dir / "plots" / "flow.png", max_speed=top)]
