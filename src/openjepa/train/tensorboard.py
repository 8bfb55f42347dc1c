"""``train.tensorboard``: the numbers of ``metrics.jsonl`` (loss and its parts, lr, wd, EMA momentum, collapse
monitors, gradient norm, speed) also as TensorBoard event files in ``RUN/tensorboard`` (``tensorboard --logdir
RUN/tensorboard``)."""

from __future__ import annotations

from typing import Any

from openjepa.core.errors import MissingExtraError
from openjepa.train.callback import Callback, LoopState


def summary_writer_class() -> type:
    """``torch.utils.tensorboard.SummaryWriter``; a :class:`MissingExtraError` naming the extra without the
    ``tensorboard`` package."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as err:
        raise MissingExtraError(f"train.tensorboard=true needs the tensorboard package: "
                                f"pip install 'openjepa[tensorboard]' ({err})") from None
    return SummaryWriter


class TensorBoardLog(Callback):
    """Each step ``metrics.jsonl`` records, its numbers under the same names, written by the main process. A
    resumed run adds an event file that starts with a purge at the step after its checkpoint, so TensorBoard drops
    what the earlier session logged past it (as ``metrics.jsonl`` drops those records)."""

    def __init__(self, state: LoopState):
        self.state, self.writer = state, None
        if state.info.is_main:
            step = state.position.step
            self.writer = summary_writer_class()(str(state.run_dir / "tensorboard"),
                                                 purge_step=step + 1 if step else None)

    def after_step(self, record: dict[str, Any]) -> None:
        if self.writer is None or not self.state.logs_step(record["step"]):
            return
        for key, value in record.items():
            if key != "step" and isinstance(value, (int, float)) and not isinstance(value, bool):
                self.writer.add_scalar(key, value, record["step"])

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
