"""``openjepa demo``: train the tiny I-JEPA on built-in shapes, evaluate it against its baselines, report."""

from __future__ import annotations

import time
from pathlib import Path

from openjepa.eval.evaluate import evaluate_run
from openjepa.runs.config import build_config, recipe_dict
from openjepa.train.loop import fit


def run_demo(out: Path | None = None, minutes: float = 6.5) -> Path:
    out = Path(out) if out else Path("runs") / f"demo-{time.strftime('%Y%m%d-%H%M%S')}"
    cfg = build_config(recipe_dict("ijepa_tiny"), [f"train.minutes={minutes}"])
    print(f"openjepa demo: I-JEPA (recipe ijepa_tiny) on the built-in 'shapes' dataset for {minutes:g} minutes, "
          f"then probes of the trained encoder, the same encoder at random init, and raw pixels.\nrun folder: {out}")
    started = time.perf_counter()
    fit(cfg, out)
    evaluation = evaluate_run(out)
    results = evaluation.results
    print()
    print(evaluation.table)
    gain = results["linear"]["trained"] - results["linear"]["random_init"]
    over_raw = results["linear"]["trained"] - results["linear"]["raw_input"]
    print(f"\nlinear probe: {gain:+.3f} over random init, {over_raw:+.3f} over raw pixels")
    print(f"report: {out / 'report.md'}   pictures: {out / 'plots'}   total {(time.perf_counter() - started) / 60:.1f} min")
    return out
