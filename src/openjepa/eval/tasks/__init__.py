"""The evaluation tasks; every module here registers its tasks in ``EVAL_TASKS``."""

from openjepa.core.registry import import_submodules

import_submodules(__name__)
