"""FLOP counting with ``torch.utils.flop_counter``, CPU attention included.

The counter has formulas for the CUDA SDPA kernels but none for ``_scaled_dot_product_flash_attention_for_cpu`` and
its backward, so on a CPU it counts zero FLOPs for fused attention; the formulas below count them as the CUDA
kernels' are counted (two matmuls forward, five backward).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.utils.flop_counter import FlopCounterMode, sdpa_backward_flop_count, sdpa_flop_count

aten = torch.ops.aten


def _cpu_sdpa(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
    return sdpa_flop_count(query_shape, key_shape, value_shape)


def _cpu_sdpa_backward(grad_out_shape, query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
    return sdpa_backward_flop_count(grad_out_shape, query_shape, key_shape, value_shape)


CPU_ATTENTION_FLOPS = {aten._scaled_dot_product_flash_attention_for_cpu: _cpu_sdpa,
                       aten._scaled_dot_product_flash_attention_for_cpu_backward: _cpu_sdpa_backward}


def counter() -> FlopCounterMode:
    """A silent ``FlopCounterMode`` that also counts the CPU attention kernels."""
    return FlopCounterMode(display=False, custom_mapping=CPU_ATTENTION_FLOPS)


def count_flops(fn: Callable[[], object]) -> int:
    """FLOPs of everything ``fn()`` runs (forward and backward, if it calls backward)."""
    with counter() as mode:
        fn()
    return mode.get_total_flops()
