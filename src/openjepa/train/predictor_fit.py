"""Fit a video run's predictor to the future on its frozen encoders, into a new run folder.

The context encoder sees the first half of each clip, and the predictor (with the run's ``future``
mask token) learns to predict the target encoder's normalised features of the rest: the energy that
``openjepa surprise`` scores. Only the predictor trains, as V-JEPA 2-AC trains a predictor on a frozen
V-JEPA 2 encoder; the encoders stay exactly as the run left them, so ``openjepa eval`` reads the same
features. In the joint training the predictor meets the future mask in one step of three and chases
a moving EMA target; here it meets it every step, against a fixed one.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import time
from functools import partial
from pathlib import Path

import torch

from openjepa.train.checkpoint import save_checkpoint
from openjepa.train.distributed import pick_device
from openjepa.train.schedules import warmup_cosine
from openjepa.train.trainer import TrainingError

log = logging.getLogger("openjepa")


def fit_predictor(run_dir: str | Path, out_dir: str | Path, *, steps: int = 6000, data: str | None = None,
                  lr: float = 1e-3, batch_size: int = 64, seed: int = 0, device: str = "auto",
                  log_every: int = 100) -> Path:
    """Copy the video run at ``run_dir`` to ``out_dir`` with its predictor trained ``steps`` more steps on the
    future of clips from ``data`` (default: the run's dataset), encoders frozen; AdamW, ``lr`` after a warmup over
    the first 5% of the steps, then a cosine to 0. Returns ``out_dir``."""
    from openjepa.eval.evaluate import load_trained_method, run_data
    from openjepa.eval.surprise import future_energy, future_split
    from openjepa.eval.video import clips_at
    from openjepa.methods.vjepa import VJepa

    run_dir, out_dir = Path(run_dir), Path(out_dir)
    if steps < 1 or batch_size < 1:
        raise TrainingError(f"fit-predictor needs steps >= 1 and batch_size >= 1, got {steps} and {batch_size}")
    if out_dir.exists() and any(out_dir.iterdir()):
        raise TrainingError(f"{out_dir} is not empty; pick a new folder for the fitted run")
    device = pick_device(device)
    cfg, method = load_trained_method(run_dir, device)
    if not isinstance(method, VJepa):
        raise TrainingError(f"{run_dir} is a '{cfg.method.name}' run; fit-predictor needs a video JEPA (vjepa recipes)")
    source = data or cfg.data.dataset
    split = run_data(cfg, data).train  # no test split needed
    if not len(split):
        raise TrainingError(f"{source} has no training clips to fit on")
    grid = method.encoder.grid
    ctx, tgt = (ids.to(device) for ids in future_split(grid, grid[0] // 2))

    method.requires_grad_(False).eval()
    method.predictor.requires_grad_(True).train()
    optimizer = torch.optim.AdamW(method.predictor.parameters(), lr=lr, weight_decay=0.04)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, partial(warmup_cosine, total=steps, warmup=steps // 20))
    cast = torch.autocast(device.type, torch.bfloat16, enabled=cfg.train.precision == "bf16")
    gen = torch.Generator().manual_seed(seed)
    started = time.perf_counter()
    log.info("fitting the predictor of %s to the future of %s clips: %d steps", run_dir, source, steps)
    for step in range(1, steps + 1):
        idx = torch.randint(0, len(split), (batch_size,), generator=gen)
        clips = method.normalize(clips_at(split, idx).to(device).float() / 255)
        with cast:
            loss = future_energy(method, clips, ctx, tgt).mean()
        value = loss.item()
        if not math.isfinite(value):
            raise TrainingError(f"fit-predictor: the loss is {value} at step {step}; nothing was written")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        if step % log_every == 0 or step == steps:
            log.info("step %d/%d  future loss %.4f  %.0f s", step, steps, value, time.perf_counter() - started)

    out_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(run_dir / "config.yaml", out_dir / "config.yaml")
    fit = {"source_run": str(run_dir), "data": source, "steps": steps, "lr": lr,
           "batch_size": batch_size, "seed": seed, "final_loss": round(value, 5),
           "seconds": round(time.perf_counter() - started, 1)}
    (out_dir / "predictor_fit.json").write_text(json.dumps(fit, indent=1) + "\n")
    save_checkpoint(out_dir, steps, method.state_dict(), optimizer.state_dict(), {"predictor_fit": fit}, keep=1)
    return out_dir
