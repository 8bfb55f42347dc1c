"""``RUN/metrics.jsonl``: one JSON object per logged step."""

from __future__ import annotations

import json
from pathlib import Path

from openjepa.runs.files import write_text_atomic


def read_metrics(path: Path) -> list[dict]:
    """All complete records; a half-written last line (after a kill) is ignored."""
    if not path.is_file():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            break
    return records


def truncate_metrics(path: Path, last_step: int) -> None:
    """Keep only records up to ``last_step`` (used when resuming from that checkpoint)."""
    if not path.is_file():
        return
    kept = [r for r in read_metrics(path) if r.get("step", 0) <= last_step]
    write_text_atomic(path, "".join(json.dumps(r) + "\n" for r in kept))


class MetricsWriter:
    """Appends records, flushing each so that an interrupted run keeps what it logged."""

    def __init__(self, path: Path):
        self.file = open(path, "a")

    def write(self, record: dict) -> None:
        self.file.write(json.dumps(record) + "\n")
        self.file.flush()

    def close(self) -> None:
        self.file.close()
