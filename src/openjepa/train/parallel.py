"""How a method's transformer blocks run, changing its results by rounding at most: sharded over the torchrun
processes with FSDP2 (``train.sharding=fsdp``), with activation checkpointing, compiled; and the whole, unsharded
state dicts that checkpoints hold whichever way the run is sharded, so that they load into one process and back."""

from __future__ import annotations

import functools
import logging

import torch
from torch import nn
from torch.distributed.checkpoint.state_dict import (
    StateDictOptions,
    get_model_state_dict,
    get_optimizer_state_dict,
    set_model_state_dict,
    set_optimizer_state_dict,
)
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.fsdp import FSDPModule, fully_shard
from torch.utils.checkpoint import checkpoint

from openjepa.core.errors import ConfigError
from openjepa.nn.block import Block
from openjepa.runs.config import TrainConfig
from openjepa.train.distributed import DistInfo

log = logging.getLogger("openjepa")


def prepare_blocks(method: nn.Module, train: TrainConfig, info: DistInfo) -> None:
    """Checkpoint the activations of and compile every :class:`~openjepa.nn.block.Block` of ``method`` as ``train``
    asks, then (``train.sharding=fsdp`` under torchrun) shard each block and then ``method`` over the processes.
    In place, before the optimizer is built: sharding replaces the parameters by sharded ``DTensor`` ones. An EMA
    copy of an encoder is sharded like the encoder, so its update works shard by shard."""
    blocks = [m for m in method.modules() if isinstance(m, Block)]
    if (train.activation_checkpointing or train.compile) and not blocks:
        log.warning("train.activation_checkpointing and train.compile act on transformer blocks; this method has "
                    "none, so they change nothing")
    for block in blocks:
        if train.activation_checkpointing:
            # the block's own forward under non-reentrant checkpointing: its state-dict keys stay as they are
            block.forward = functools.partial(checkpoint, block.forward, use_reentrant=False)
        if train.compile:
            try:
                block.compile(dynamic=True)
            except RuntimeError as err:  # this Python or platform has no torch.compile
                raise ConfigError(f"train.compile=true: {err}") from None
    if train.sharding == "fsdp" and info.world_size > 1:
        mesh = init_device_mesh(info.device.type, (info.world_size,))
        for block in blocks:
            fully_shard(block, mesh=mesh)
        fully_shard(method, mesh=mesh)


def full_state_dicts(method: nn.Module, optimizer: torch.optim.Optimizer) -> tuple[dict, dict]:
    """The model's and the optimizer's state dicts as one process holds them. Of a sharded method: gathered on the
    CPU of rank 0 (every rank must call this; the others get empty dicts), the optimizer's state numbered like
    ``optimizer.state_dict()``'s."""
    if not isinstance(method, FSDPModule):
        return method.state_dict(), optimizer.state_dict()
    options = StateDictOptions(full_state_dict=True, cpu_offload=True)
    model = get_model_state_dict(method, options=options)
    optim = get_optimizer_state_dict(method, optimizer, options=options)
    return model, _numbered(optim) if optim else optim


def load_full_state_dicts(method: nn.Module, optimizer: torch.optim.Optimizer, model_state: dict,
                          optim_state: dict) -> None:
    """Load state dicts of :func:`full_state_dicts` (written by a sharded run or by one process) into ``method`` and
    its ``optimizer``, sharded or not (every rank calls this, each with the whole state dicts)."""
    if not isinstance(method, FSDPModule):
        method.load_state_dict(model_state)
        optimizer.load_state_dict(optim_state)
        return
    options = StateDictOptions(full_state_dict=True)
    set_model_state_dict(method, model_state, options=options)
    names = {id(p): name for name, p in method.named_parameters()}
    order = [names[id(p)] for group in optimizer.param_groups for p in group["params"]]
    set_optimizer_state_dict(method, optimizer, _named(optim_state, order), options=options)


def _numbered(state: dict) -> dict:
    """An optimizer state dict keyed by parameter names (``get_optimizer_state_dict``) keyed by the parameters'
    positions in the parameter groups instead, as ``Optimizer.state_dict`` keys it."""
    index = {name: i for i, name in enumerate(n for group in state["param_groups"] for n in group["params"])}
    return {"state": {index[name]: value for name, value in state["state"].items()},
            "param_groups": [{**g, "params": [index[n] for n in g["params"]]} for g in state["param_groups"]]}


def _named(state: dict, order: list[str]) -> dict:
    """The inverse of :func:`_numbered`: ``order`` names the parameters by position."""
    return {"state": {order[i]: value for i, value in state["state"].items()},
            "param_groups": [{**g, "params": [order[i] for i in g["params"]]} for g in state["param_groups"]]}
