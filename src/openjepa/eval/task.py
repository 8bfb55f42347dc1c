"""An evaluation task: what ``openjepa eval`` measures on a run, beside the baselines measured in the same run.

A task is registered in ``EVAL_TASKS`` and runs on what :class:`EvalContext` holds; it returns its ``eval.json``
entries (``meta`` entries are merged into the results' ``meta``) and renders its own table for the report. A run's
tasks are its modality's ``eval_tasks`` and its method's, unless its ``eval.tasks`` lists them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch

from openjepa.core.protocols import Method
from openjepa.runs.config import RunConfig


@dataclass
class EvalContext:
    """``trained``: the run's method with its latest weights; ``random_init``: the same method as its training
    started; ``data``: both splits, read by the run's modality at the run's input spec. ``artifacts``: what tasks
    fitted and want kept, by name: ``(tensors, string metadata)``, saved beside the results (``eval.json`` ->
    ``eval.<name>.safetensors``). ``features``: pooled encoder features of the probed splits by row (``trained``,
    ``random_init``): ``[train (N, D), test (M, D)]``, kept by the task that computed them for the tasks after
    it."""

    cfg: RunConfig
    run_dir: Path
    trained: Method
    random_init: Method
    data: Any
    device: torch.device
    artifacts: dict[str, tuple[dict[str, torch.Tensor], dict[str, str]]] = field(default_factory=dict)
    features: dict[str, list[torch.Tensor]] = field(default_factory=dict)


class EvalTask:
    name: ClassVar[str]

    def run(self, ctx: EvalContext) -> dict[str, Any]:
        """The task's ``eval.json`` entries (``meta``: facts about what was measured)."""
        raise NotImplementedError

    def table(self, results: dict[str, Any]) -> str:
        """The task's figures as text, for the terminal and ``report.md``."""
        raise NotImplementedError

    def pictures(self, ctx: EvalContext) -> list[Path]:
        """Pictures the task drew into ``RUN/plots`` (shown in ``report.md``)."""
        return []
