"""``openjepa bench``: I-JEPA (or, with ``--video``, V-JEPA) training-step throughput beside this
machine's measured matmul peak.

For each ViT size and precision: images (clips)/s, achieved GFLOP/s (FLOPs of one
forward+backward counted by ``torch.utils.flop_counter``, CPU attention included,
:mod:`openjepa.bench.flops`, divided by the step time), the ratio to the peak
GFLOP/s of a large matmul measured in the same run, and peak memory (CUDA:
allocator peak; CPU: the process's peak RSS).
"""

from __future__ import annotations

import contextlib
import time

import torch

from openjepa.bench.flops import count_flops
from openjepa.core.device import pick_device
from openjepa.core.errors import ConfigError, suggest
from openjepa.core.spec import InputSpec
from openjepa.data.images import ImageSet
from openjepa.data.loader import TrainBatches
from openjepa.data.sprites import VideoSet
from openjepa.nn.vit import VIT_SIZES
from openjepa.optim.adamw import build_optimizer
from openjepa.runs.build import build_method
from openjepa.runs.config import RunConfig, build_config, recipe_dict
from openjepa.train.distributed import DistInfo
from openjepa.train.loop import TrainStep


def peak_matmul_size(device: torch.device) -> int:
    """Side of the square matmul that measures a device's peak: 2048 fills a CPU; a GPU needs 8192 (on an H100,
    bf16 reaches about 600 TFLOP/s at 2048 and 800 at 8192)."""
    return 8192 if device.type == "cuda" else 2048


def matmul_peak_gflops(dtype: torch.dtype, device: torch.device, n: int | None = None, seconds: float = 2.0) -> float:
    """Best GFLOP/s of ``n x n`` matmuls (default :func:`peak_matmul_size`) over about ``seconds``."""
    n = n or peak_matmul_size(device)
    a, b = (torch.randn(n, n, device=device, dtype=dtype) for _ in range(2))
    best, deadline = 0.0, time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        _sync(device)
        t0 = time.perf_counter()
        for _ in range(4):
            a @ b
        _sync(device)
        best = max(best, 4 * 2 * n**3 / (time.perf_counter() - t0) / 1e9)
    return best


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _reset_peak_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    else:
        with contextlib.suppress(OSError), open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # resets the kernel's peak-RSS counter for this process


def _peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    with contextlib.suppress(OSError), open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _image_setup(size: str, precision: str, image_size: int, patch: int, batch_size: int):
    """An I-JEPA config for a ViT ``size`` and a batch of random images."""
    width = {"tiny": 192, "small": 384, "base": 768, "large": 1024}[size]
    cfg = build_config({"method": {"name": "ijepa", "predictor": {"width": width // 2, "depth": 6,
                                                                  "heads": max(1, width // 128)}},
                        "encoder": {"size": size, "patch_size": patch},
                        "data": {"modality": "image", "mean": [0.5] * 3, "std": [0.25] * 3},
                        "spec": {"modality": "image", "channels": 3, "size": [image_size, image_size]},
                        "train": {"precision": precision}})
    data = ImageSet(torch.randint(0, 256, (batch_size, 3, image_size, image_size), dtype=torch.uint8),
                    torch.zeros(batch_size, dtype=torch.long), ["x"])
    return cfg, data


def _video_setup(size: str, precision: str, batch_size: int):
    """``tiny``: the vjepa_tiny recipe (8 x 32 x 32 clips); ``large``: vjepa_vitl16 (16 x 224 x 224, ViT-L/16)."""
    recipe = {"tiny": "vjepa_tiny", "large": "vjepa_vitl16"}[size]
    side = 32 if size == "tiny" else 224
    cfg = build_config(recipe_dict(recipe), {"train": {"precision": precision},
                                             "data": {"mean": [0.5] * 3, "std": [0.25] * 3}})
    cfg.spec = InputSpec("video", 3, (side, side), frames=cfg.data.frames)
    shape = (batch_size, 3, cfg.data.frames, side, side)
    n = batch_size
    data = VideoSet(torch.randint(0, 256, shape, dtype=torch.uint8), {"x": torch.zeros(n, dtype=torch.long)},
                    {"x": ["x"]}, torch.zeros(n, *shape[2:], dtype=torch.bool), torch.zeros(n, shape[2], 2), "x")
    return cfg, data


def bench_setting(size: str, precision: str, *, image_size: int, patch: int, batch_size: int, steps: int,
                  device: torch.device, video: bool = False) -> dict:
    """Time ``steps`` training steps of a ViT ``size`` encoder (after two warm-up steps)."""
    cfg, data = _video_setup(size, precision, batch_size) if video else \
        _image_setup(size, precision, image_size, patch, batch_size)
    timing, method = time_training_step(cfg, data, batch_size, steps, device)
    params = sum(p.numel() for p in method.encoder.parameters())
    tokens = 1
    for g in method.encoder.grid:
        tokens *= g
    return {"size": size, "precision": precision, "encoder_params_m": params / 1e6, "tokens": tokens, **timing}


def time_training_step(cfg: RunConfig, data, batch_size: int, steps: int,
                       device: torch.device) -> tuple[dict, torch.nn.Module]:
    """Seconds per training step of ``cfg``'s method on one batch of ``data`` (after two warm-up steps) through the
    training loop's own :class:`~openjepa.train.loop.TrainStep`, samples/s, achieved GFLOP/s (one forward+backward
    counted by ``torch.utils.flop_counter``) and peak memory."""
    torch.manual_seed(0)
    method = build_method(cfg).to(device)
    train_step = TrainStep(cfg, method, build_optimizer(method, cfg.optim), DistInfo(device=device))
    batch = next(TrainBatches(data, batch_size, 0, extras=method.sample_extras()).iterate(0, 1))
    batch["diagnose"] = False  # as on the training loop's steps between logged ones
    cast = torch.autocast(device.type, dtype=torch.bfloat16) if cfg.train.precision == "bf16" else \
        contextlib.nullcontext()

    def step() -> None:
        train_step(batch, cfg.train.steps, [])

    def forward_backward() -> None:
        with cast:
            method({k: v.to(device) if torch.is_tensor(v) else v for k, v in batch.items()}).loss.backward()

    flops = count_flops(forward_backward)
    step()
    step()
    _sync(device)
    _reset_peak_memory(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    _sync(device)
    seconds = (time.perf_counter() - t0) / steps
    return {"step_s": seconds, "images_per_s": batch_size / seconds, "gflops": flops / seconds / 1e9,
            "peak_memory_mb": _peak_memory_mb(device)}, method


def run_bench(sizes: list[str], precisions: list[str], *, steps: int = 5, batch_size: int = 64, image_size: int = 64,
              patch: int = 8, device: str = "auto", video: bool = False) -> list[dict]:
    valid = ["tiny", "large"] if video else list(VIT_SIZES)
    for size in sizes:
        if size not in valid:
            raise ConfigError(f"unknown size '{size}' for --sizes{suggest(size, valid, 'sizes')}")
    dev = pick_device(device)
    what = ("V-JEPA training step (tiny: vjepa_tiny on 8x32x32 clips; large: vjepa_vitl16 on 16x224x224)" if video
            else f"I-JEPA training step, {image_size}px images, patch {patch}")
    print(f"{what} on {dev} ({torch.get_num_threads()} threads), batch {batch_size}, {steps} timed steps per setting")
    peaks = {p: matmul_peak_gflops(torch.float32 if p == "fp32" else torch.bfloat16, dev) for p in precisions}
    for p, v in peaks.items():
        print(f"machine peak ({p} {peak_matmul_size(dev)}x{peak_matmul_size(dev)} matmul): {v:.0f} GFLOP/s")
    unit = "clips/s" if video else "img/s"
    header = f"{'model':8}{'prec':6}{'params':>9}{'tokens':>8}{'step s':>9}{unit:>9}{'GFLOP/s':>10}{'of peak':>9}{'peak MB':>10}"
    print(header)
    rows = []
    for size in sizes:
        for precision in precisions:
            r = bench_setting(size, precision, image_size=image_size, patch=patch, batch_size=batch_size,
                              steps=steps, device=dev, video=video)
            r["peak_gflops"] = peaks[precision]
            r["fraction_of_peak"] = r["gflops"] / peaks[precision]
            rows.append(r)
            print(f"{size:8}{precision:6}{r['encoder_params_m']:>8.1f}M{r['tokens']:>8}{r['step_s']:>9.3f}{r['images_per_s']:>9.1f}"
                  f"{r['gflops']:>10.1f}{r['fraction_of_peak']:>9.1%}{r['peak_memory_mb']:>10.0f}")
    return rows
