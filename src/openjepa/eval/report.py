"""Human-readable results: the accuracy table and the run report (markdown + pictures)."""

from __future__ import annotations

from pathlib import Path

ROWS = (("trained", "trained encoder"), ("random_init", "same arch., random init"), ("raw_input", "raw pixels"))
PROBES = (("linear", "linear probe"), ("knn", "kNN (k=20)"), ("lowshot", "low-shot (10/class)"))


def format_table(results: dict) -> str:
    """The eval.json accuracies as an aligned text table."""
    meta = results.get("meta", {})
    lines = [f"{meta.get('dataset', '?')}: {meta.get('train_images', '?')} train / {meta.get('test_images', '?')} "
             f"test images, {meta.get('classes', '?')} classes (test-split accuracy)",
             f"{'':26}" + "".join(f"{title:>22}" for _, title in PROBES)]
    for key, title in ROWS:
        lines.append(f"{title:26}" + "".join(f"{results[p][key]:>22.3f}" for p, _ in PROBES))
    return "\n".join(lines)


def write_report(run_dir: Path, results: dict, pictures: list[Path], notes: str = "") -> Path:
    """``RUN/report.md``: the table, the pictures, and any notes."""
    parts = ["# openjepa run report", "", f"Run: `{run_dir}`", "", "```", format_table(results), "```", ""]
    if notes:
        parts += [notes, ""]
    parts += [f"![{p.stem}]({p.relative_to(run_dir)})" for p in pictures]
    path = run_dir / "report.md"
    path.write_text("\n".join(parts) + "\n")
    return path
