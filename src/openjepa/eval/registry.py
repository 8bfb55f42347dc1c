"""The registered evaluation tasks: ``@EVAL_TASKS.register(name)`` on an
:class:`~openjepa.eval.task.EvalTask` subclass. A run's tasks are its modality's and its method's
(``eval.tasks`` lists others)."""

from openjepa.core.registry import Registry

EVAL_TASKS = Registry("evaluation task", home="openjepa.eval.tasks")
