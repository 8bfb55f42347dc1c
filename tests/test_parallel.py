"""train.sharding=fsdp, train.activation_checkpointing and train.compile change how the steps run, not what they
compute: an FSDP2 run under torchrun (gloo) matches one process on the same global batch and its checkpoints load
into one process and back; checkpointed and compiled blocks give the same losses and gradients."""

import logging
import os
import shutil
import sys

import pytest
import torch
from cli_process import run_bounded
from torch import nn

from openjepa.core.errors import ConfigError
from openjepa.data.digits import load_digits
from openjepa.data.loader import TrainBatches
from openjepa.runs.build import build_method
from openjepa.runs.checkpoint import latest_checkpoint, load_checkpoint
from openjepa.runs.config import TrainConfig, build_config, recipe_dict
from openjepa.runs.files import load_run_config, write_run_config
from openjepa.runs.metrics import read_metrics
from openjepa.runs.prepare import fill_spec
from openjepa.train.distributed import DistInfo
from openjepa.train.loop import fit
from openjepa.train.parallel import prepare_blocks

DATA = load_digits(size=16)
# as tests/test_ddp.py's torchrun run: batch-standardised targets and SIGReg see the global batch, the EMA target
# moves; clip_grad below the gradient norm, so that clipping acts on the sharded gradients
FSDP_RUN = ["method.target_norm=batch", "method.sigreg.weight=0.5", "method.sigreg_on=context_pooled",
            "method.projector=null", "method.global_weight=0", "method.view=null", "optim.clip_grad=0.1",
            "train.steps=4", "train.checkpoint_every=2"]


def _fit(run, overrides=(), resume=False):
    cfg = None if resume else build_config(recipe_dict("ijepa_tiny"), list(overrides))
    return fit(cfg, run, resume=resume, progress=False, data=DATA)


def _torchrun(args):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "openjepa",
           "train", "--quiet", *args]
    run_bounded(cmd, env={**os.environ, "OMP_NUM_THREADS": "1"})


def _records(run):
    return {r["step"]: r for r in read_metrics(run / "metrics.jsonl")}


def _assert_same_steps(a, b, steps):
    for step in steps:
        for key in ("loss", "sigreg", "grad_norm"):
            assert a[step][key] == pytest.approx(b[step][key], rel=1e-4), (step, key)


def _assert_same_weights(a, b):
    wa = load_checkpoint(latest_checkpoint(a), with_optimizer=False)[0]
    wb = load_checkpoint(latest_checkpoint(b), with_optimizer=False)[0]
    assert wa.keys() == wb.keys() and any(k.startswith("target.copy.") for k in wa)
    for name in wa:
        assert torch.allclose(wa[name], wb[name], rtol=1e-3, atol=1e-5), name


def test_fsdp_matches_one_process_and_its_checkpoints_load_both_ways(tmp_path, tiny_overrides):
    overrides = tiny_overrides + FSDP_RUN
    single, to_fsdp, sharded = tmp_path / "single", tmp_path / "to_fsdp", tmp_path / "fsdp"
    _fit(single, overrides + ["train.stop_at=2"])
    shutil.copytree(single, to_fsdp)
    cfg = load_run_config(to_fsdp)
    cfg.train.sharding = "fsdp"
    write_run_config(to_fsdp, cfg)
    _torchrun(["--resume", str(to_fsdp)])  # FSDP resumes a checkpoint of one process
    _torchrun(["ijepa_tiny", "--out", str(sharded), "--stop-at", "2", *overrides, "train.sharding=fsdp",
               "train.activation_checkpointing=true"])
    # the checkpoint written from shards is one process's: the same names, the optimizer's state numbered alike
    model_1, optim_1, _ = load_checkpoint(latest_checkpoint(single))
    model_2, optim_2, _ = load_checkpoint(latest_checkpoint(sharded))
    assert model_1.keys() == model_2.keys()
    assert [g["params"] for g in optim_1["param_groups"]] == [g["params"] for g in optim_2["param_groups"]]
    assert optim_1["state"].keys() == optim_2["state"].keys()
    for i, state in optim_1["state"].items():
        assert torch.allclose(state["exp_avg"], optim_2["state"][i]["exp_avg"], rtol=1e-3, atol=1e-7), i
    _fit(single, resume=True)
    _fit(sharded, resume=True)  # one process resumes a checkpoint of FSDP
    ref = _records(single)
    _assert_same_steps(ref, _records(sharded), [1, 2, 3, 4])
    _assert_same_steps(ref, _records(to_fsdp), [3, 4])
    _assert_same_weights(single, sharded)
    _assert_same_weights(single, to_fsdp)


def _method_and_batch(overrides):
    cfg = fill_spec(build_config(recipe_dict("ijepa_tiny"), overrides), DATA)
    torch.manual_seed(0)
    method = build_method(cfg)
    batch = next(TrainBatches(DATA.train, 16, 0, extras=method.sample_extras()).iterate(0, 1))
    return method, batch


def test_activation_checkpointing_keeps_loss_gradients_and_names_and_saves_memory(tiny_overrides):
    results = []
    for on in (False, True):
        method, batch = _method_and_batch(tiny_overrides)
        prepare_blocks(method, TrainConfig(activation_checkpointing=on), DistInfo())
        saved = []
        with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t.numel() * t.element_size()) or t,
                                                      lambda t: t):
            out = method(batch)
        out.loss.backward()
        grads = {n: p.grad for n, p in method.named_parameters() if p.grad is not None}
        results.append((out.loss.detach(), grads, sum(saved), method.state_dict().keys()))
    (loss, grads, saved, names), (loss_ac, grads_ac, saved_ac, names_ac) = results
    assert torch.equal(loss, loss_ac) and names == names_ac
    assert grads.keys() == grads_ac.keys() and len(grads) > 10
    for name, g in grads.items():
        assert torch.allclose(g, grads_ac[name], rtol=1e-6, atol=1e-9), name
    assert saved_ac < 0.5 * saved  # what the blocks keep for the backward pass is recomputed instead


def _compiler_missing() -> str:
    if not torch._dynamo.is_dynamo_supported():
        return "torch.compile does not support this Python or platform"
    if not any(shutil.which(c) for c in (os.environ.get("CXX", "c++"), "g++", "clang++")):
        return "no C++ compiler for torch.compile's CPU code"
    return ""


@pytest.mark.skipif(bool(_compiler_missing()), reason=_compiler_missing())
def test_compiled_blocks_give_the_same_losses(tmp_path, tiny_overrides):
    overrides = tiny_overrides + ["encoder.depth=1", "method.projector=null", "method.global_weight=0",
                                  "train.steps=3"]
    plain = _records(_fit(tmp_path / "plain", overrides))
    compiled = _records(_fit(tmp_path / "compiled", overrides + ["train.compile=true"]))
    for step in (1, 2, 3):
        assert compiled[step]["loss"] == pytest.approx(plain[step]["loss"], abs=1e-4), step


def test_bad_settings_are_one_clear_error(monkeypatch, caplog, tiny_overrides):
    with pytest.raises(ConfigError, match=r"train.sharding: expected one of \['ddp', 'fsdp'\], got 'zero3'"):
        build_config(recipe_dict("ijepa_tiny"), ["train.sharding=zero3"])
    with pytest.raises(ConfigError, match="train.activation_checkpointing: expected true/false"):
        build_config(recipe_dict("ijepa_tiny"), ["train.activation_checkpointing=sometimes"])

    def refuse(*args, **kwargs):
        raise RuntimeError("torch.compile is not supported on Python 3.15+")

    monkeypatch.setattr(nn.Module, "compile", refuse)
    method, _ = _method_and_batch(tiny_overrides)
    with pytest.raises(ConfigError, match=r"^train.compile=true: torch.compile is not supported on Python 3.15\+$"):
        prepare_blocks(method, TrainConfig(compile=True), DistInfo())
    with caplog.at_level(logging.WARNING, logger="openjepa"):
        prepare_blocks(nn.Linear(2, 2), TrainConfig(activation_checkpointing=True), DistInfo())
    assert "this method has none, so they change nothing" in caplog.text
