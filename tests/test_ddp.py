"""Two gloo processes on half a global batch each must match one process on the whole batch."""

import faulthandler
import gc
import os
import socket
import sys

import pytest
import torch
import torch.distributed as dist
from cli_process import run_bounded, spawn_bounded
from torch.nn.parallel import DistributedDataParallel

from openjepa.data.digits import load_digits
from openjepa.data.loader import TrainBatches
from openjepa.runs.build import build_method
from openjepa.runs.checkpoint import latest_checkpoint, load_checkpoint
from openjepa.runs.config import build_config, recipe_dict
from openjepa.runs.metrics import read_metrics
from openjepa.runs.prepare import fill_spec

# EMA target, batch-standardised targets (global statistics), the whole-image term through a BatchNorm
# projector (global batch statistics) and SIGReg (global characteristic function)
DDP_OVERRIDES = ["method.target_norm=batch", "method.sigreg.weight=0.5", "method.sigreg_on=context_pooled",
                 "method.projector={hidden: 32, out: 16, norm: batch}", "method.global_weight=1.0", "method.view=null"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _one_step(rank: int, world: int, overrides: list[str], out_path: str, port: int) -> None:
    torch.set_num_threads(1)
    if world > 1:
        faulthandler.dump_traceback_later(240, exit=True)  # a hung rank prints where it hangs
        os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
        dist.init_process_group("gloo", rank=rank, world_size=world)
    data = load_digits(size=16)
    cfg = fill_spec(build_config(recipe_dict("ijepa_tiny"), overrides), data)
    torch.manual_seed(0)
    method = build_method(cfg)
    model = DistributedDataParallel(method) if world > 1 else method
    batch = next(TrainBatches(data.train, 16, 0, extras=method.sample_extras(), rank=rank, world=world).iterate(3, 4))
    out = model(batch)
    out.loss.backward()
    grads = {n: p.grad.clone() for n, p in method.named_parameters() if p.grad is not None}
    with torch.no_grad():
        for p in method.parameters():
            if p.grad is not None:
                p -= 0.5 * p.grad
    method.after_step(1, 10)
    if rank == 0:
        target = {k: v.clone() for k, v in method.target.copy.state_dict().items()}
        torch.save({"grads": grads, "sigreg": out.logs["sigreg"], "target": target}, out_path)
    if world > 1:
        # the DDP wrapper goes first: its reducer must not hold the group's last reference (see
        # openjepa.train.distributed.shutdown)
        del model, out
        gc.collect()
        dist.destroy_process_group()
        faulthandler.cancel_dump_traceback_later()


def test_ddp_matches_a_single_process_on_the_same_global_batch(tmp_path, tiny_overrides):
    overrides = tiny_overrides + DDP_OVERRIDES
    _one_step(0, 1, overrides, str(tmp_path / "single.pt"), 0)
    spawn_bounded(_one_step, (2, overrides, str(tmp_path / "ddp.pt"), _free_port()), nprocs=2)
    single, ddp = torch.load(tmp_path / "single.pt"), torch.load(tmp_path / "ddp.pt")
    assert torch.allclose(single["sigreg"], ddp["sigreg"], rtol=1e-5)
    assert single["grads"].keys() == ddp["grads"].keys() and len(single["grads"]) > 10
    for name, g in single["grads"].items():
        # atol: some gradients are zero up to rounding (a shift that the projector's BatchNorm removes)
        assert torch.allclose(g, ddp["grads"][name], rtol=1e-4, atol=1e-6), name
    for name, w in single["target"].items():
        assert torch.allclose(w, ddp["target"][name], rtol=1e-5, atol=1e-7), name


def test_torchrun_training_matches_single_process(tmp_path, tiny_overrides):
    # without the BatchNorm projector: a shift it removes leaves some gradients zero up to rounding, and
    # Adam turns that rounding noise into full-size steps that differ between any two summation orders
    overrides = tiny_overrides + DDP_OVERRIDES + ["method.projector=null", "method.global_weight=0",
                                                  "train.steps=4", "train.threads=1"]
    single, multi = tmp_path / "single", tmp_path / "ddp"
    base = [sys.executable, "-m", "openjepa", "train", "ijepa_tiny", "--quiet", *overrides]
    run_bounded(base + ["--out", str(single)])
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "openjepa",
                "train", "ijepa_tiny", "--quiet", "--out", str(multi), *overrides]
    run_bounded(torchrun, env={**os.environ, "OMP_NUM_THREADS": "1"})
    a, b = read_metrics(single / "metrics.jsonl"), read_metrics(multi / "metrics.jsonl")
    assert [r["step"] for r in b] == [1, 2, 3, 4]
    for ra, rb in zip(a, b):
        assert ra["loss"] == pytest.approx(rb["loss"], rel=1e-4)
        assert ra["sigreg"] == pytest.approx(rb["sigreg"], rel=1e-4)
    wa = load_checkpoint(latest_checkpoint(single), with_optimizer=False)[0]
    wb = load_checkpoint(latest_checkpoint(multi), with_optimizer=False)[0]
    for name in wa:
        assert torch.allclose(wa[name], wb[name], rtol=1e-3, atol=1e-5), name
