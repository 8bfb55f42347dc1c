"""Process-group setup under torchrun (gloo on CPU, NCCL on CUDA) and the single-process fallback."""

from __future__ import annotations

import gc
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from openjepa.core.device import pick_device


@dataclass
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(device_name: str) -> DistInfo:
    """Join the torchrun process group if ``WORLD_SIZE`` > 1; otherwise run as a single process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = pick_device(device_name, local_rank)
    if world <= 1:
        return DistInfo(device=device)
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend=backend)
    return DistInfo(dist.get_rank(), dist.get_world_size(), local_rank, device)


def shutdown(clean: bool) -> None:
    """Leave the process group. After a clean run every rank first waits for the others: a gloo rank that tears
    its connections down while a peer still holds them can abort ("terminate called without an active exception").
    Unreachable DistributedDataParallel wrappers are collected first, while the group is still registered: a
    wrapper's reducer that held the group's last reference would destroy it holding the GIL, and gloo's destructor
    joins worker threads that may need the GIL to free work queued during a backward pass (torch 2.13 stashes a
    Python object in that work), a deadlock."""
    if dist.is_available() and dist.is_initialized():
        if clean:
            dist.barrier()
        gc.collect()
        dist.destroy_process_group()


def broadcast_object(obj: object, info: DistInfo) -> object:
    """Rank 0's ``obj`` on every rank."""
    if info.world_size == 1:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]
