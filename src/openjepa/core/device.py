"""Choosing the device once, for training, evaluation and planning alike."""

from __future__ import annotations

import torch

from openjepa.core.errors import ConfigError


def check_device(name: str) -> None:
    """Refuse a device name torch does not know (``auto`` is ours), with one line."""
    if name == "auto":
        return
    try:
        torch.device(name)
    except (RuntimeError, ValueError):
        raise ConfigError(f"unknown device '{name}': expected auto, cpu, cuda, cuda:N or mps") from None


def pick_device(name: str, local_rank: int = 0) -> torch.device:
    """``auto`` (CUDA when available), ``cpu``, ``cuda`` (the process's local GPU) or any torch device name."""
    check_device(name)
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError("device cuda was asked for but no CUDA device is available; use cpu or auto")
        return torch.device("cuda", local_rank)
    return torch.device(name)


def native_bf16(device: torch.device | str) -> bool:
    """Whether ``device`` computes bf16 matmuls natively: a CUDA GPU that supports it, or a CPU with AVX-512 BF16 or
    AMX. Elsewhere PyTorch emulates them, hundreds of times slower than fp32 (0.3 against 67 GFLOP/s measured on
    an AVX2-only AMD EPYC)."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type != "cpu":
        return False
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, probe, lambda: False)() for probe in probes)


def uses_bf16(precision: str, device: torch.device | str) -> bool:
    """Whether ``train.precision`` means bf16 autocast on ``device``: ``bf16`` always, ``auto`` where it is native
    (:func:`native_bf16`), ``fp32`` never."""
    return precision == "bf16" or (precision == "auto" and native_bf16(device))
