"""The run report: ``RUN/report.md`` with the evaluation tasks' tables and the run's pictures, and ``RUN/report.html``
with those and every table of ``eval.json``, the data fingerprint and the resolved config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from openjepa.eval.report_html import render_report_html
from openjepa.runs.files import write_text_atomic


def write_report(run_dir: Path, table: str, pictures: list[Path], results: dict[str, Any], notes: str = "") -> Path:
    """``RUN/report.md`` (the results table, the pictures, and any notes) and ``RUN/report.html`` (the same, with
    ``results``, ``eval.json``'s contents, as tables); returns the path of ``report.md``."""
    parts = ["# openjepa run report", "", f"Run: `{run_dir}`", "", "```", table, "```", ""]
    if notes:
        parts += [notes, ""]
    parts += [f"![{p.stem}]({p.relative_to(run_dir)})" for p in pictures]
    path = run_dir / "report.md"
    path.write_text("\n".join(parts) + "\n")
    write_text_atomic(run_dir / "report.html", render_report_html(run_dir, table, pictures, results, notes))
    return path
