import json
import logging
import signal
import subprocess
import sys
import time

import pytest
import torch
import yaml

from openjepa.core.errors import TrainingError
from openjepa.data.digits import load_digits
from openjepa.optim.schedules import warmup_cosine
from openjepa.runs.checkpoint import latest_checkpoint, load_checkpoint
from openjepa.runs.config import build_config, recipe_dict
from openjepa.runs.metrics import read_metrics
from openjepa.train.loop import fit

DATA = load_digits(size=16)


def _fit(tmp, overrides, recipe="ijepa_tiny", resume=False):
    cfg = build_config(recipe_dict(recipe), overrides)
    return fit(None if resume else cfg, tmp, resume=resume, progress=False, data=DATA)


def _losses(run):
    return [(r["step"], r["loss"]) for r in read_metrics(run / "metrics.jsonl")]


def test_a_run_logs_every_step_and_writes_checkpoints(tmp_path, tiny_overrides):
    run = _fit(tmp_path / "r", tiny_overrides + ["train.steps=12"])
    records = read_metrics(run / "metrics.jsonl")
    assert [r["step"] for r in records] == list(range(1, 13))
    assert all({"loss", "lr", "token_std", "rankme", "momentum"} <= set(r) for r in records)
    assert latest_checkpoint(run).name == "step_00000012"
    assert (run / "plots" / "loss.png").is_file() and (run / "plots" / "collapse.png").is_file()
    saved = json.loads((latest_checkpoint(run) / "state.json").read_text())
    assert saved["step"] == 12 and saved["total_steps"] == 12
    # EMA momentum follows its linear schedule, and the target really moved towards the encoder
    assert records[0]["momentum"] == pytest.approx(0.996 + 0.004 / 12)
    weights = load_checkpoint(latest_checkpoint(run), with_optimizer=False)[0]
    assert not torch.equal(weights["target.copy.blocks.0.attn.qkv.weight"], weights["encoder.blocks.0.attn.qkv.weight"])


@pytest.mark.parametrize("recipe", ["ijepa_tiny", "lejepa_tiny", "ijepa_sigreg_tiny"])
def test_resume_reproduces_every_step(tmp_path, tiny_overrides, recipe):
    extra = []
    if recipe == "lejepa_tiny":
        tiny_overrides = [o for o in tiny_overrides if not o.startswith("method.predictor")]
        extra = ["method.local_view.size=8"]
    straight = _fit(tmp_path / "a", tiny_overrides + extra + ["train.steps=40"], recipe)
    stopped = _fit(tmp_path / "b", tiny_overrides + extra + ["train.steps=40", "train.stop_at=20"], recipe)
    assert _losses(stopped)[-1][0] == 20
    _fit(stopped, [], recipe, resume=True)
    a, b = _losses(straight), _losses(stopped)
    assert [s for s, _ in b] == list(range(1, 41))
    assert a == b  # identical, not merely close


def test_resume_after_kill_9_reproduces_the_run(tmp_path, tiny_overrides):
    def command(out):
        return [sys.executable, "-m", "openjepa", "train", "ijepa_tiny", "--out", str(out), "--steps", "40", "--quiet",
                *tiny_overrides, "train.checkpoint_every=5"]

    # the reference runs in its own process too, so both see the same thread count and kernels
    ref, run = tmp_path / "ref", tmp_path / "killed"
    subprocess.run(command(ref), check=True, stdout=subprocess.DEVNULL)
    proc = subprocess.Popen(command(run), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and len(read_metrics(run / "metrics.jsonl")) < 23:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    logged = len(read_metrics(run / "metrics.jsonl"))
    assert 5 <= logged < 40, "the run should have been killed mid-way"
    subprocess.run([sys.executable, "-m", "openjepa", "train", "--resume", str(run), "--quiet"], check=True,
                   stdout=subprocess.DEVNULL)
    assert _losses(run) == _losses(ref)


def test_ctrl_c_checkpoints_then_resume_finishes(tmp_path, tiny_overrides):
    run = tmp_path / "r"
    cmd = [sys.executable, "-m", "openjepa", "train", "ijepa_tiny", "--out", str(run), "--steps", "400", "--quiet",
           *tiny_overrides, "train.checkpoint_every=1000"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and len(read_metrics(run / "metrics.jsonl")) < 5:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "--resume" in err
    step = int(latest_checkpoint(run).name.split("_")[1])
    assert step == len(read_metrics(run / "metrics.jsonl")) >= 5


def test_nan_loss_stops_with_a_clear_error_and_keeps_checkpoints(tmp_path, tiny_overrides, monkeypatch):
    run = _fit(tmp_path / "r", tiny_overrides + ["train.steps=30", "train.stop_at=10"])
    before = {p.name: p.read_bytes() for p in latest_checkpoint(run).iterdir()}
    from openjepa.methods.ijepa import IJepa

    original = IJepa.forward

    def poisoned(self, batch):
        out = original(self, batch)
        if batch["step"] >= 13:
            out.loss = out.loss * float("nan")
        return out

    monkeypatch.setattr(IJepa, "forward", poisoned)
    with pytest.raises(TrainingError, match=r"non-finite loss at step 14.*step 10.*intact"):
        _fit(run, [], resume=True)
    assert latest_checkpoint(run).name == "step_00000010"
    assert {p.name: p.read_bytes() for p in latest_checkpoint(run).iterdir()} == before


def test_an_existing_run_is_never_overwritten(tmp_path, tiny_overrides):
    run = _fit(tmp_path / "r", tiny_overrides + ["train.steps=3"])
    config = (run / "config.yaml").read_text()
    with pytest.raises(TrainingError, match="already holds a run.*--resume"):
        _fit(run, tiny_overrides + ["train.steps=3"])
    assert (run / "config.yaml").read_text() == config


def test_warmup_cosine_rises_linearly_then_falls_to_zero():
    factors = [warmup_cosine(s, total=100, warmup=10) for s in range(101)]
    assert factors[0] == pytest.approx(0.1 * 1.0) and factors[4] < factors[9]
    assert max(factors) == factors[9] and factors[50] == pytest.approx(0.5) and factors[100] == pytest.approx(0.0)
    assert all(b <= a for a, b in zip(factors[9:], factors[10:]))  # never rises after the warmup
    assert [warmup_cosine(s, total=100, warmup=0) for s in range(3)] == [warmup_cosine(s, 100, 1) for s in range(3)]


def test_time_budget_fits_the_schedule():
    from openjepa.train.budget import CALIBRATION_STEPS, TimeBudget

    budget = TimeBudget(60.0, start_step=0)
    assert budget.observe(2, elapsed=1.0, now=1.0) is None  # warm-up steps are not timed
    done = 2 + CALIBRATION_STEPS
    total = budget.observe(done, elapsed=1.0 + 0.5 * CALIBRATION_STEPS, now=1.0 + 0.5 * CALIBRATION_STEPS)
    assert total == done + int(0.98 * (60 - 1 - 0.5 * CALIBRATION_STEPS) / 0.5)  # 0.5 s a step fills the rest
    assert budget.observe(done + 1, elapsed=10.0, now=10.0) is None  # next refit only at a quarter of the budget
    refit = budget.observe(done + 20, elapsed=20.0, now=20.0)  # the machine got slower: fewer steps fit
    assert refit is not None and refit < total


def test_time_budget_stops_with_a_checkpoint(tmp_path, tiny_overrides, caplog):
    warmup = ["optim.warmup_steps=100000"]  # far beyond what fits: the fit says the run never warms up
    with caplog.at_level(logging.INFO, logger="openjepa"):
        run = _fit(tmp_path / "r", tiny_overrides + ["train.minutes=0.05", "train.steps=100000"] + warmup)
    records = read_metrics(run / "metrics.jsonl")
    state = json.loads((latest_checkpoint(run) / "state.json").read_text())
    assert records[-1]["step"] == state["step"] < 100000  # stopped by the budget, checkpoint at the last step
    fitted = [r.getMessage() for r in caplog.records if "schedule fitted" in r.getMessage()]
    assert len(fitted) == 1  # refits are logged at debug level only
    assert any("warming up" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    steps = yaml.safe_load((run / "config.yaml").read_text())["train"]["steps"]
    assert steps == state["total_steps"] < 100000  # config.yaml records the fitted schedule


def test_wrong_image_size_for_the_patch_is_a_clear_error(tmp_path, tiny_overrides):
    from openjepa.core.errors import ConfigError

    cfg = build_config(recipe_dict("ijepa_tiny"), tiny_overrides + ["data.image_size=18", "train.steps=2"])
    with pytest.raises(ConfigError, match="not a multiple of encoder.patch_size 4"):
        fit(cfg, tmp_path / "r", progress=False)


def test_auto_precision_is_bf16_only_where_the_cpu_computes_it(monkeypatch):
    from openjepa.core.device import native_bf16, uses_bf16

    cpu = torch.device("cpu")
    assert uses_bf16("bf16", cpu) and not uses_bf16("fp32", cpu)
    for probe in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"):
        monkeypatch.setattr(torch.cpu, probe, lambda: False, raising=False)
    assert not native_bf16(cpu) and not uses_bf16("auto", "cpu")
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: True, raising=False)
    assert native_bf16(cpu) and uses_bf16("auto", cpu)
