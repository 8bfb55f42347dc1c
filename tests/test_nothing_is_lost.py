"""The cases of bad input that used to lose data or give a wrong answer, one test each: a float tensor given to
``embed``, evaluation on one class or without a test split, ``--out`` at a user's folder, retrying a failed start,
resuming on changed data, and a second evaluation on other data."""

import json

import numpy as np
import pytest
import torch
from cli_process import changed, hashes
from PIL import Image

import openjepa
from openjepa.cli import main
from openjepa.errors import DataError, TrainingError

TINY = ["data.image_size=16", "encoder.patch_size=4", "encoder.width=32", "encoder.depth=2", "encoder.heads=2",
        "method.predictor.width=16", "method.predictor.depth=1", "method.predictor.heads=2",
        "method.projector.hidden=32", "method.projector.out=16", "train.batch_size=8", "train.precision=fp32",
        "optim.warmup_steps=1", "eval.lowshot_repeats=1", "train.checkpoint_every=2"]


def cli(*args) -> int:
    with pytest.raises(SystemExit) as done:
        main([str(a) for a in args])
    return done.value.code


def images(root, classes=("a", "b"), per_class=8, seed=0):
    rng = np.random.default_rng(seed)
    for c in classes:
        (root / c).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 255, (16, 16), dtype=np.uint8)).save(root / c / f"{i}.png")
    return root


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A 2-step run on a small folder of 1-channel images (so that its evaluations take seconds)."""
    root = tmp_path_factory.mktemp("lost")
    out = root / "run"
    data = images(root / "data", per_class=16)
    assert cli("train", "ijepa_tiny", "--out", out, "--data", data, "--steps", 2, "--quiet", *TINY) == 0
    return out


def test_embed_reads_a_float_tensor_as_unit_range_and_leaves_it_unchanged(run):
    pixels = torch.randint(0, 256, (3, 1, 16, 16), dtype=torch.uint8)
    floats = pixels.float() / 255
    kept = floats.clone()
    from_floats, from_bytes = openjepa.embed(run, floats), openjepa.embed(run, pixels)
    assert torch.equal(floats, kept)
    np.testing.assert_allclose(from_floats, from_bytes, atol=1e-5)
    black = openjepa.embed(run, torch.zeros_like(pixels))
    assert not np.allclose(from_floats, black, atol=1e-3)
    with pytest.raises(DataError, match=r"\[0, 1\]"):
        openjepa.embed(run, floats * 255)


def test_eval_refuses_one_class_and_a_missing_test_split(run, tmp_path, capsys):
    one = images(tmp_path / "one", classes=("only",))
    train_only = images(tmp_path / "train_only" / "train")
    before = hashes(run)
    assert cli("eval", run, "--data", one) == 2
    assert "one class" in capsys.readouterr().err
    with pytest.raises(DataError, match="no test split"):
        openjepa.evaluate(run, str(train_only.parent))
    assert not changed(before, hashes(run))


def test_out_at_a_users_folder_is_refused_and_the_folder_untouched(tmp_path, capsys):
    user = tmp_path / "mine"
    (user / "plots").mkdir(parents=True)
    (user / "metrics.jsonl").write_text('{"step": 1, "loss": 0.5}\n')
    (user / "plots" / "loss.png").write_bytes(b"my own picture")
    before = hashes(user)
    assert cli("train", "ijepa_tiny", "--out", user, "--data", "digits", "--steps", 2, "--quiet", *TINY) == 2
    assert "not empty" in capsys.readouterr().err
    assert hashes(user) == before


def test_a_failed_start_can_be_retried_in_the_same_folder(tmp_path, capsys):
    data, out = images(tmp_path / "data", per_class=2), tmp_path / "run"
    assert cli("train", "ijepa_tiny", "--out", out, "--data", data, "--steps", 2, "--quiet", *TINY) == 2
    assert "fewer than one batch" in capsys.readouterr().err
    assert not out.exists()  # nothing was started on disk
    images(data, per_class=8)
    assert cli("train", "ijepa_tiny", "--out", out, "--data", data, "--steps", 2, "--quiet", *TINY) == 0
    # a start killed before its first checkpoint (config.yaml, no checkpoint) is started again too
    killed = tmp_path / "killed"
    killed.mkdir()
    (killed / "config.yaml").write_text((out / "config.yaml").read_text())
    assert cli("train", "ijepa_tiny", "--out", killed, "--data", data, "--steps", 2, "--quiet", *TINY) == 0
    assert (killed / "checkpoints").is_dir()


def test_resume_on_changed_data_stops_and_says_what_changed(tmp_path, capsys, monkeypatch):
    data = images(tmp_path / "data")
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "run"
    assert cli("train", "ijepa_tiny", "--out", out, "--data", "data", "--steps", 4, "--stop-at", 2, "--quiet",
               *TINY) == 0
    recorded = json.loads((out / "data.json").read_text())
    assert recorded["dataset"] == str(data) and recorded["files"] == 16
    assert f"dataset: {data}" in (out / "config.yaml").read_text()  # typed relative, stored absolute
    assert openjepa.load(out) is not None
    images(data, classes=("c",), per_class=1, seed=5)
    before = hashes(out)
    assert cli("train", "--resume", out) == 2
    err = capsys.readouterr().err
    assert "data changed" in err and "16 files" in err and "17 files" in err and "--allow-data-change" in err
    assert hashes(out) == before
    with pytest.raises(TrainingError, match="data changed"):
        openjepa.train(None, out, resume=True, progress=False)
    assert cli("train", "--resume", out, "--allow-data-change", "--quiet") == 0
    assert json.loads((out / "data.json").read_text())["files"] == 17


def test_a_second_evaluation_on_other_data_goes_beside_the_first(run, tmp_path):
    cli("eval", run)
    first = hashes(run)
    other = images(tmp_path / "other")
    results = openjepa.evaluate(run, str(other))
    assert not changed({k: v for k, v in first.items() if k.startswith(("eval", "report"))}, hashes(run))
    beside = list((run / "evals").glob("other-*.json"))
    assert len(beside) == 1 and json.loads(beside[0].read_text()) == results
    assert results["meta"]["evaluated"]["data"] == str(other)
