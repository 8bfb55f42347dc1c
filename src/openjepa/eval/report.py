"""Human-readable results: the accuracy table and the run report (markdown + pictures)."""

from __future__ import annotations

from pathlib import Path

ROWS = (("trained", "trained encoder"), ("random_init", "same arch., random init"), ("raw_input", "raw pixels"))
PROBES = (("linear", "linear probe"), ("knn", "kNN (k=20)"), ("lowshot", "low-shot (10/class)"))


def _row_title(key: str, title: str, meta: dict) -> str:
    """Row titles; the trained row names the probed encoder (``meta["encoder"]``) when the results say."""
    return f"trained {meta['encoder']} encoder" if key == "trained" and meta.get("encoder") else title


def format_table(results: dict) -> str:
    """The eval.json accuracies as an aligned text table."""
    meta = results.get("meta", {})
    lines = [f"{meta.get('dataset', '?')}: {meta.get('train_images', '?')} train / {meta.get('test_images', '?')} "
             f"test images, {meta.get('classes', '?')} classes (test-split accuracy)",
             f"{'':26}" + "".join(f"{title:>22}" for _, title in PROBES)]
    for key, title in ROWS:
        lines.append(f"{_row_title(key, title, meta):26}" + "".join(f"{results[p][key]:>22.3f}" for p, _ in PROBES))
    return "\n".join(lines)


def format_video_table(results: dict) -> str:
    meta = results.get("meta", {})
    lines = [f"{meta.get('dataset', '?')}: {meta.get('train_clips', '?')} train / {meta.get('test_clips', '?')} test "
             f"clips; label '{meta.get('label', '?')}' ({meta.get('classes', '?')} classes)"
             + (f"; the probe trains on {meta['probe_views_per_clip']} flips of each clip"
                if meta.get("probe_views_per_clip", 1) > 1 else "")
             + ("; each time step encoded on its own" if meta.get("tokens") == "step" else ""),
             f"{'':34}{'attentive probe':>18}{'dense R^2':>12}{'motion R^2':>12}"]
    for key, title in (("trained", "trained encoder"), ("random_init", "same arch., random init"),
                       ("single_frame", "trained, first frame held still")):
        dense = [results.get(probe, {}).get(key) for probe in ("dense", "dense_motion")]
        lines.append(f"{_row_title(key, title, meta):34}{results['attentive'][key]:>18.3f}"
                     + "".join(f"{'':>12}" if value is None else f"{value:>12.3f}" for value in dense).rstrip())
    return "\n".join(lines)


def format_world_table(results: dict) -> str:
    """A world-model evaluation: R^2 of the state readout from the latents and from the encoder's features,
    trained beside random init."""
    latents, encoder = results["position_r2"], results.get("position_r2_encoder", {})
    rows = [f"{'state R^2':<12} {'latents':>9} {'encoder':>9}"]
    rows += [f"{name:<12} {value:>9.3f} " + (f"{encoder[name]:>9.3f}" if name in encoder else f"{'':>9}")
             for name, value in latents.items()]
    return "\n".join(rows)


def results_table(results: dict) -> str:
    """The table of an image (linear/kNN/low-shot), video (attentive/dense) or world-model evaluation."""
    if "position_r2" in results:
        return format_world_table(results)
    return format_video_table(results) if "attentive" in results else format_table(results)


def write_report(run_dir: Path, table: str, pictures: list[Path], notes: str = "") -> Path:
    """``RUN/report.md``: the results table, the pictures, and any notes."""
    parts = ["# openjepa run report", "", f"Run: `{run_dir}`", "", "```", table, "```", ""]
    if notes:
        parts += [notes, ""]
    parts += [f"![{p.stem}]({p.relative_to(run_dir)})" for p in pictures]
    path = run_dir / "report.md"
    path.write_text("\n".join(parts) + "\n")
    return path
