import shutil
import sys

import pytest

from openjepa.core.errors import MissingExtraError
from openjepa.data.digits import load_digits
from openjepa.runs.checkpoint import latest_checkpoint
from openjepa.runs.config import build_config, recipe_dict
from openjepa.runs.metrics import read_metrics
from openjepa.train.loop import fit

event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")


def _scalars(run, tag):
    events = event_accumulator.EventAccumulator(str(run / "tensorboard"))
    events.Reload()
    return [(e.step, e.value) for e in events.Scalars(tag)], set(events.Tags()["scalars"])


def test_tensorboard_holds_the_logged_numbers_also_after_a_resume(tmp_path, tiny_overrides):
    data = load_digits(size=16)
    cfg = build_config(recipe_dict("ijepa_tiny"), tiny_overrides + [
        "train.steps=6", "train.stop_at=4", "train.checkpoint_every=2", "train.tensorboard=true"])
    run = fit(cfg, tmp_path / "run", progress=False, data=data)
    # as after a kill between checkpoints: the session logged steps 3 and 4 past the checkpoint it resumes from
    shutil.rmtree(latest_checkpoint(run))
    (run / "checkpoints" / "latest").write_text("step_00000002\n")
    fit(None, run, resume=True, progress=False, data=data)

    records = read_metrics(run / "metrics.jsonl")
    losses, tags = _scalars(run, "loss")
    # each step once (the resumed session purged the earlier session's steps 3 and 4), float32 of metrics.jsonl
    assert losses == [(r["step"], r["loss"]) for r in records] and [s for s, _ in losses] == list(range(1, 7))
    assert {"loss", "lr", "wd", "momentum", "token_std", "rankme", "grad_norm", "images_per_s", "time"} <= tags
    momentum, _ = _scalars(run, "momentum")
    assert [v for _, v in momentum] == pytest.approx([r["momentum"] for r in records], rel=1e-6)


def test_tensorboard_without_its_package_names_the_extra_before_anything_is_written(tmp_path, tiny_overrides,
                                                                                   monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import fails as without the package
    cfg = build_config(recipe_dict("ijepa_tiny"), tiny_overrides + ["train.steps=2", "train.tensorboard=true"])
    with pytest.raises(MissingExtraError, match=r"pip install 'openjepa\[tensorboard\]'"):
        fit(cfg, tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()
