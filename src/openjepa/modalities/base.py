"""What a kind of input declares: how its data is read and described, how it is tokenized and prepared, and how
runs on it are evaluated.

A modality is registered under the name a recipe's ``data.modality`` gives; everything that used to guess the kind
of input from config fields asks the run's modality instead:

- ``data_config``: the dataclass of the ``data`` section (``modality`` is its tag), ``eval_config`` of ``eval``;
- :meth:`load`: both splits of ``data.dataset`` (a built-in name registered for this modality, or a path it reads);
- :meth:`spec`: the :class:`~openjepa.core.spec.InputSpec` of loaded data;
- :meth:`build_encoder`: a ViT with this modality's tokenizer for a spec;
- :meth:`prepare`: stacked samples -> the method's inputs (the collate step);
- :meth:`read_files`: users' files -> samples, for ``openjepa embed``; ``file_suffixes``: the files it reads;
- ``eval_tasks``: the evaluation tasks every run on it gets.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import torch

from openjepa.core.errors import DataError
from openjepa.core.spec import InputSpec
from openjepa.data.loader import pixels
from openjepa.data.registry import DATASETS
from openjepa.data.trajectories.windowset import is_trajectory_store
from openjepa.nn.vit import ViT, ViTConfig


class Modality:
    """Base class; see the module docstring. Subclasses are stateless: the registry holds the class and callers
    use an instance (``MODALITIES.get(name)()``)."""

    name: ClassVar[str]
    data_config: ClassVar[type]
    eval_config: ClassVar[type]
    eval_tasks: ClassVar[tuple[str, ...]] = ()
    file_suffixes: ClassVar[frozenset[str]] = frozenset()

    def load(self, cfg: Any, spec: InputSpec | None = None) -> Any:
        """Both splits of ``cfg.dataset``, shaped as ``spec`` when given (a trained run's)."""
        raise NotImplementedError

    def spec(self, data: Any) -> InputSpec:
        raise NotImplementedError

    def build_encoder(self, config: ViTConfig, spec: InputSpec) -> ViT:
        raise NotImplementedError

    def prepare(self, samples: torch.Tensor) -> torch.Tensor:
        """Stacked uint8 samples -> float inputs in [0, 1]."""
        return pixels(samples)

    def read_files(self, paths: list[str | Path], spec: InputSpec) -> torch.Tensor:
        raise DataError(f"this run reads {self.name} data, not files: openjepa embed, similarity and search read "
                        f"the files of image, video, audio and point-cloud runs")

    def refuse_store(self, path: Path) -> None:
        """A trajectory store given to a modality that reads files of its own: say what it is and what reads it."""
        if is_trajectory_store(path):
            raise DataError(f"{path} is a trajectory store (openjepa collect): world-model recipes (lewm_*, "
                            f"vjepa2ac_*) train on it, {self.name} recipes read {self.name} files")

    def data_folder(self, cfg: Any, holds: str) -> Path:
        """``cfg.dataset`` as a folder to read, checked: set, existing, not a trajectory store, not a file; ``holds``
        says what the folder should hold (e.g. ``class folders of sound files``)."""
        if not cfg.dataset:
            raise DataError(f"data.dataset is not set: pass --data PATH (a folder of {holds}) or a built-in name")
        root = Path(cfg.dataset).expanduser()
        if not root.exists():
            raise DataError(f"data not found: '{cfg.dataset}' is neither a folder nor a built-in dataset")
        self.refuse_store(root)
        if not root.is_dir():
            raise DataError(f"data path {root} is a file; expected a folder of {holds}")
        return root

    def builtin(self, cfg: Any) -> Any | None:
        """The built-in dataset ``cfg.dataset`` names, loaded, or None when it names none; a ConfigError when it
        names one of another modality."""
        if cfg.dataset not in DATASETS:
            return None
        kind = DATASETS.info(cfg.dataset).get("modality")
        if kind != self.name:
            ours = [name for name in DATASETS.names() if DATASETS.info(name).get("modality") == self.name]
            raise DataError(f"'{cfg.dataset}' is a built-in {kind} dataset but this recipe reads {self.name} data; "
                            f"built-in {self.name} datasets: {', '.join(ours) or 'none'}")
        return DATASETS.get(cfg.dataset)(cfg)
