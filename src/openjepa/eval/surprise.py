"""Surprise: how badly a video JEPA's predictor, shown the first part of a clip, predicts the target
encoder's features of the rest. Per clip and per time step; on matched quadruplets of possible and impossible
clips (a sprite that vanishes, teleports or passes through a wall) a model that learned intuitive
physics finds the impossible pair more surprising.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

import numpy as np
import torch

from openjepa.core.device import pick_device, uses_bf16
from openjepa.core.errors import TrainingError
from openjepa.core.protocols import Method, PredictsTargets
from openjepa.data.sprites import make_physics_quads
from openjepa.data.video_folder import VideoClips
from openjepa.data.video_io import _sorted_classes, list_videos
from openjepa.eval.clips import clip_batches
from openjepa.eval.energy import auroc
from openjepa.masks.tubes import future_split
from openjepa.runs.build import load_trained_method, random_init_method

log = logging.getLogger("openjepa")


@torch.no_grad()
def surprise(method: Method, clips: torch.Tensor, *, context_steps: int | None = None, batch_size: int = 64,
             bf16: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Surprise of uint8 clips ``(N, C, T, H, W)``: per clip ``(N,)`` and per predicted time step ``(N, S)``.

    The context encoder sees the first ``context_steps`` token time steps (default: half); the
    predictor (with the mask token of the method's ``future`` mask configuration if it has one)
    predicts the rest; surprise is the free energy F = min_z E of that prediction (E itself for a predictor
    without a latent z): the method's distance to the target encoder's normalised features there, averaged over
    tokens (:meth:`~openjepa.core.protocols.PredictsTargets.prediction_energy`).
    """
    method.eval()
    grid = method.encoder.grid
    context_steps = context_steps or grid[0] // 2
    ctx, tgt = future_split(grid, context_steps)
    device = next(method.parameters()).device
    cast = torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
    per_step = []
    with cast:
        for start in range(0, len(clips), batch_size):
            x = method.normalize(clips[start : start + batch_size].to(device).float().div_(255))
            energy = method.prediction_energy(x, ctx.to(device), tgt.to(device))
            per_step.append(energy.reshape(len(x), grid[0] - context_steps, -1).mean(-1).cpu())
    steps = torch.cat(per_step)
    return steps.mean(1), steps


def quad_scores(possible: torch.Tensor, impossible: torch.Tensor) -> dict[str, float]:
    """Scores of surprise ``(2n,)`` on n quadruplets (rows 2i, 2i + 1: quadruplet i): pairwise accuracy (the
    quadruplet's impossible pair more surprising in sum than its possible pair) and AUROC of those sums as an
    impossibility score."""
    possible, impossible = possible.reshape(-1, 2).sum(1), impossible.reshape(-1, 2).sum(1)
    return {"pairwise_accuracy": float((impossible > possible).float().mean()), "auroc": auroc(possible, impossible)}


def physics_report(method: Method, possible, impossible, kinds: list[str], *, bf16: bool = False) -> dict:
    """Scores on quadruplets (``make_physics_quads``: 2n possible and 2n impossible clips, ``kinds[i]`` the
    violation of quadruplet i), overall and per kind."""
    s_pos, _ = surprise(method, possible.clips, bf16=bf16)
    s_imp, _ = surprise(method, impossible.clips, bf16=bf16)
    report = quad_scores(s_pos, s_imp)
    per_clip = np.repeat(np.array(kinds), 2)
    report["per_kind"] = {kind: quad_scores(s_pos[per_clip == kind], s_imp[per_clip == kind])
                          for kind in sorted(set(kinds))}
    report["quadruplets"] = len(kinds)
    return report


def surprise_run(run_dir: str | Path, *, data: str | Path | None = None, quadruplets: int = 150,
                 device: str = "auto") -> dict:
    """Surprise of a video run: on ``quadruplets`` built-in intuitive-physics quadruplets (trained and random init),
    or per clip and time step on the videos at ``data``."""
    device = pick_device(device)
    cfg, method = load_trained_method(run_dir, device)
    if not isinstance(method, PredictsTargets) or not method.encoder.reads_clips:
        raise TrainingError(f"{run_dir} is a '{cfg.method.name}' run; surprise needs a video JEPA with a predictor "
                            f"(vjepa recipes)")
    bf16 = uses_bf16(cfg.train.precision, device)
    if data is None:
        possible, impossible, kinds = make_physics_quads(quadruplets, seed=3, frames=cfg.spec.frames,
                                                         size=cfg.spec.size[0])
        report = physics_report(method, possible, impossible, kinds, bf16=bf16)
        report["random_init"] = physics_report(random_init_method(cfg, device), possible, impossible, kinds,
                                               bf16=bf16)
        report["predict_change"] = method.predicts_change
        if report["predict_change"]:
            log.warning("%s predicts the change since the first time step (method.predict_change), so even "
                        "untrained it carries the first step forward, which flags a sprite that vanishes or teleports: "
                        "its random init is no blank baseline (vjepa2_tiny's is)", run_dir)
        return report
    videos = list_videos(Path(data))
    split = VideoClips(videos, _sorted_classes({label for _, label in videos}), frames=cfg.spec.frames,
                       frame_step=cfg.data.frame_step, fps=cfg.data.fps, size=cfg.spec.size[0],
                       skip_corrupt=cfg.data.skip_corrupt, seed=None)  # centred clips
    clips = torch.cat(list(clip_batches(split, None, 64)))
    per_clip, per_step = surprise(method, clips, bf16=bf16)
    return {"clips": [{"path": str(path), "label": label, "surprise": float(c), "per_step": s.tolist()}
                      for (path, label), c, s in zip(split.videos, per_clip, per_step)],
            "context_steps": method.encoder.grid[0] // 2, "tubelet": cfg.encoder.tubelet}
