"""The run report: ``RUN/report.md`` with the evaluation tasks' tables and the run's pictures."""

from __future__ import annotations

from pathlib import Path


def write_report(run_dir: Path, table: str, pictures: list[Path], notes: str = "") -> Path:
    """``RUN/report.md``: the results table, the pictures, and any notes."""
    parts = ["# openjepa run report", "", f"Run: `{run_dir}`", "", "```", table, "```", ""]
    if notes:
        parts += [notes, ""]
    parts += [f"![{p.stem}]({p.relative_to(run_dir)})" for p in pictures]
    path = run_dir / "report.md"
    path.write_text("\n".join(parts) + "\n")
    return path
