"""Deterministic training batches.

Step ``s`` reads positions ``[p*B, (p+1)*B)`` of the permutation of epoch
``e = s // steps_per_epoch`` (``p = s % steps_per_epoch``, ``B`` the global
batch); rank ``r`` of ``W`` takes its contiguous share. The permutation is a
function of ``(seed, epoch)``, and per-sample extras (masks) of
``(seed, epoch, index)``, so a run resumed at any step, or split over any number
of processes or loader workers, sees exactly the same global batches.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from openjepa.core.errors import DataError
from openjepa.core.protocols import Batch, SampleExtras


def epoch_permutation(n: int, seed: int, epoch: int) -> np.ndarray:
    return np.random.default_rng([seed, epoch, 0x5EED]).permutation(n)


class _Keyed(Dataset):
    """``dataset[(step, epoch, index)] -> (step, epoch, index, sample, label)``; a label may be a dict of
    per-sample tensors (a trajectory window's actions and states) or texts (an image's caption), which the batch
    holds under their keys."""

    def __init__(self, dataset: Dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int, int]) -> tuple:
        if hasattr(self.dataset, "set_epoch"):  # datasets that draw per epoch (random clip starts) follow the key
            self.dataset.set_epoch(key[1])
        image, label = self.dataset[key[2]]
        return (*key, image, label)


class _Collate:
    """Stacks a step's samples into a :class:`~openjepa.core.protocols.Batch`; ``prepare`` (the modality's) turns
    the stacked samples into the method's inputs. ``batch["seed"]`` seeds the batch-level draws (augmentations): a
    function of (seed, step, rank), so ranks augment differently and a resumed run repeats its draws."""

    def __init__(self, seed: int, extras: SampleExtras | None, rank: int, prepare: Callable[[torch.Tensor], torch.Tensor]):
        self.seed = seed
        self.extras = extras
        self.rank = rank
        self.prepare = prepare

    def __call__(self, items: list[tuple]) -> Batch:
        step, epoch = items[0][0], items[0][1]
        indices = [it[2] for it in items]
        batch: dict[str, Any] = {
            "inputs": self.prepare(torch.stack([it[3] for it in items])),
            "index": torch.tensor(indices, dtype=torch.long),
            "step": step,
            "epoch": epoch,
            "seed": int(np.random.default_rng([self.seed, step, self.rank, 0xA06]).integers(2**62)),
        }
        if isinstance(items[0][4], dict):  # per-sample tensors (actions, states) or texts (captions) by key
            batch.update({k: _stacked([it[4][k] for it in items]) for k in items[0][4]})
        else:
            batch["label"] = torch.tensor([it[4] for it in items], dtype=torch.long)
        if self.extras is not None:
            batch.update(self.extras(self.seed, epoch, indices))
        return batch


def _stacked(values: list) -> torch.Tensor | list[str]:
    """Per-sample tensors stacked; texts kept as a list."""
    return list(values) if isinstance(values[0], str) else torch.stack(values)


class _StepSampler:
    def __init__(self, n: int, global_batch: int, seed: int, rank: int, world: int, start: int, stop: int):
        self.n, self.global_batch, self.seed = n, global_batch, seed
        self.rank, self.world, self.start, self.stop = rank, world, start, stop
        self.steps_per_epoch = n // global_batch

    def __len__(self) -> int:
        return max(0, self.stop - self.start)

    def __iter__(self) -> Iterator[list[tuple[int, int, int]]]:
        local = self.global_batch // self.world
        perm, perm_epoch = None, -1
        for step in range(self.start, self.stop):
            epoch, pos = divmod(step, self.steps_per_epoch)
            if epoch != perm_epoch:
                perm, perm_epoch = epoch_permutation(self.n, self.seed, epoch), epoch
            first = pos * self.global_batch + self.rank * local
            yield [(step, epoch, int(i)) for i in perm[first : first + local]]


def pixels(x: torch.Tensor) -> torch.Tensor:
    """uint8 pixels -> float in [0, 1] (what image, video and trajectory samples need)."""
    return x.float().div_(255)


class TrainBatches:
    """Iterable of batches for steps ``[start, stop)`` of a run; see the module docstring. ``prepare`` turns the
    stacked samples into inputs (default :func:`pixels`)."""

    def __init__(self, dataset: Dataset, global_batch: int, seed: int, *, extras: SampleExtras | None = None,
                 rank: int = 0, world: int = 1, num_workers: int = 0,
                 prepare: Callable[[torch.Tensor], torch.Tensor] = pixels):
        n = len(dataset)
        if global_batch % world:
            raise DataError(f"batch size {global_batch} is not divisible by the {world} processes")
        if n < global_batch:
            raise DataError(f"the training split has {n} samples, fewer than one batch of {global_batch}; lower "
                            f"train.batch_size")
        self.dataset, self.global_batch, self.seed = dataset, global_batch, seed
        self.extras, self.rank, self.world, self.num_workers = extras, rank, world, num_workers
        self.prepare = prepare
        self.steps_per_epoch = n // global_batch

    def iterate(self, start: int, stop: int) -> Iterator[Batch]:
        sampler = _StepSampler(len(self.dataset), self.global_batch, self.seed, self.rank, self.world, start, stop)
        collate = _Collate(self.seed, self.extras, self.rank, self.prepare)
        loader = DataLoader(_Keyed(self.dataset), batch_sampler=sampler, collate_fn=collate,
                            num_workers=self.num_workers, persistent_workers=False)
        yield from loader
