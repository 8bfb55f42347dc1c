import os

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
torch.set_num_threads(min(2, torch.get_num_threads()))

# A few-second I-JEPA on 16 px digits: every part of the real pipeline, tiny widths.
TINY = [
    "data.dataset=digits", "data.image_size=16",
    "encoder.patch_size=4", "encoder.width=32", "encoder.depth=2", "encoder.heads=2",
    "method.predictor.width=16", "method.predictor.depth=1", "method.predictor.heads=2",
    "method.projector.hidden=32", "method.projector.out=16",
    "train.batch_size=16", "train.precision=fp32", "train.checkpoint_every=10", "optim.warmup_steps=5",
    "eval.lowshot_repeats=2",
]
# a few-second V-JEPA: 4-frame 16 px clips, tiny widths
TINY_VIDEO = [
    "data.frames=4", "data.image_size=16", "encoder.patch_size=4", "encoder.width=32", "encoder.depth=2",
    "encoder.heads=2", "method.predictor.width=16", "method.predictor.depth=1", "method.predictor.heads=2",
    "train.batch_size=8", "train.precision=fp32", "train.checkpoint_every=10", "optim.warmup_steps=2",
    "eval.attentive_epochs=1", "eval.video_batch_size=16",
]


@pytest.fixture
def tiny_overrides() -> list[str]:
    return list(TINY)
