"""``RUN/report.html``: the run report as one self-contained page (no JavaScript, no external file).

It holds the tasks' text tables, every table of ``eval.json`` rendered from the results (one per top-level entry,
nested entries as dotted rows; each value cell keeps the exact value as JSON in ``data-value``), the ``meta``
entries, the pictures inlined as data URIs, the data fingerprint (``RUN/data.json``) and the resolved config.
"""

from __future__ import annotations

import base64
import json
import math
import mimetypes
from html import escape
from pathlib import Path
from typing import Any

import yaml

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 72em; padding: 0 1em; color: #222; }
pre { background: #f6f6f6; padding: .8em; overflow-x: auto; }
table { border-collapse: collapse; display: inline-table; margin: 0 1.5em 1em 0; vertical-align: top; }
caption { font-weight: bold; text-align: left; padding-bottom: .3em; }
th, td { border: 1px solid #ccc; padding: .2em .6em; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { display: inline-block; margin: 0 1em 1em 0; }
img { max-width: 100%; }
"""
NUMERIC = ' class="num"'


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def format_value(value: Any) -> str:
    """A value as shown: floats to 3 decimals (3 significant digits when very small or large), ``-`` for none."""
    if isinstance(value, float):
        if not math.isfinite(value) or value == 0 or 1e-3 <= abs(value) < 1e6:
            return f"{value:.3f}"
        return f"{value:.3g}"
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return json.dumps(value)
    return str(value)


def _leaves(value: Any, key: str = "") -> list[tuple[str, Any]]:
    """``(dotted key, value)`` for every entry below ``value`` that is not a mapping."""
    if not isinstance(value, dict):
        return [(key, value)]
    return [leaf for k, v in value.items() for leaf in _leaves(v, f"{key}.{k}" if key else str(k))]


def _table(caption: str, entries: dict[str, Any], prefix: str = "") -> str:
    """One table, a row per leaf of ``entries``: its key (``prefix.KEY`` in ``data-key``), the value as shown and
    exactly, as JSON, in ``data-value``."""
    rows = []
    for key, value in _leaves(entries):
        numeric = _is_number(value) or (isinstance(value, list) and bool(value) and all(map(_is_number, value)))
        full_key = f"{prefix}.{key}" if prefix else key
        rows.append(f'<tr><th scope="row">{escape(key)}</th><td{NUMERIC if numeric else ""} '
                    f'data-key="{escape(full_key)}" '
                    f'data-value="{escape(json.dumps(value))}">{escape(format_value(value))}</td></tr>')
    return f"<table><caption>{escape(caption)}</caption>\n" + "\n".join(rows) + "\n</table>"


def results_tables(results: dict[str, Any]) -> str:
    """Every entry of ``eval.json`` but ``meta`` as tables: one per mapping, one for the other top-level values."""
    tables = [_table(key, value, key) for key, value in results.items() if key != "meta" and isinstance(value, dict)]
    loose = {k: v for k, v in results.items() if k != "meta" and not isinstance(v, dict)}
    if loose:
        tables.append(_table("figures", loose))
    return "\n".join(tables) or "<p>no figures recorded</p>"


def _picture(path: Path) -> str:
    kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return (f'<figure><img src="data:{kind};base64,{data}" alt="{escape(path.stem)}">'
            f"<figcaption>{escape(path.stem)}</figcaption></figure>")


def shortened(value: Any, limit: int = 2000) -> Any:
    """``value`` (a parsed config) with every string longer than ``limit`` characters replaced by a note of its length
    (a text run's tokenizer sits in its config as one long string)."""
    if isinstance(value, dict):
        return {k: shortened(v, limit) for k, v in value.items()}
    if isinstance(value, list):
        return [shortened(v, limit) for v in value]
    if isinstance(value, str) and len(value) > limit:
        return f"<{len(value)} characters, in config.yaml>"
    return value


def config_text(config_file: Path) -> str:
    """``config.yaml`` as the page shows it: as written, unless it holds very long strings (then re-rendered
    without them)."""
    text = config_file.read_text()
    parsed = yaml.safe_load(text)
    short = shortened(parsed)
    return text if short == parsed else yaml.safe_dump(short, sort_keys=False)


def render_report_html(run_dir: Path, table: str, pictures: list[Path], results: dict[str, Any],
                       notes: str = "") -> str:
    """The page's text (see the module's docstring)."""
    run_dir = Path(run_dir)
    data_file, config_file = run_dir / "data.json", run_dir / "config.yaml"
    data = (_table("data.json", json.loads(data_file.read_text()), "data") if data_file.is_file()
            else "<p>no data fingerprint recorded</p>")
    config = (f"<pre>{escape(config_text(config_file))}</pre>" if config_file.is_file()
              else "<p>no config.yaml in the run folder</p>")
    meta = results.get("meta")
    meta = _table("meta", meta, "meta") if isinstance(meta, dict) else "<p>no meta entries</p>"
    parts = [
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        f"<title>openjepa run report: {escape(run_dir.name)}</title>", f"<style>{STYLE}</style>", "</head>", "<body>",
        "<h1>openjepa run report</h1>", f"<p>Run: <code>{escape(str(run_dir))}</code></p>",
        "<h2>Results</h2>", f'<section id="tables">\n<pre>{escape(table)}</pre>',
        *([f"<p>{escape(notes)}</p>"] if notes else []), "</section>",
        "<h2>eval.json</h2>", f'<section id="results">\n{results_tables(results)}\n</section>',
        "<h2>About the evaluation</h2>", f'<section id="meta">\n{meta}\n</section>',
        "<h2>Pictures</h2>", '<section id="pictures">', *(_picture(p) for p in pictures), "</section>",
        "<h2>Data</h2>", f'<section id="data">\n{data}\n</section>',
        "<h2>Config</h2>", f'<section id="config">\n{config}\n</section>',
        "</body>", "</html>",
    ]
    return "\n".join(parts) + "\n"
