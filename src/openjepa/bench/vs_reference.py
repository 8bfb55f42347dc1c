"""``openjepa bench --vs-reference``: openjepa's I-JEPA training step beside the reference step's
(:mod:`openjepa.bench.reference_ijepa`) on equal work, in one process.

The configuration: ViT-tiny (192 x 12, 3 heads), 64 px images, patch 8, predictor 96 x 6 (3 heads), 4 target blocks,
batch 64, no gradient clipping (the reference has none). Both steps get the same images and the same masks: one
multi-block draw per image, every block cut to the batch's shortest as the reference's collator does, so neither
side pads. Rounds alternate the two (so drifts in the machine's speed hit both); the ratio is openjepa's median step
time over the reference's. Also reported: the FLOPs each step counts (CPU attention included), the machine's matmul
peak and the share of it each step reaches, and the tokens per image openjepa's encoder sees with its own masks.
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

import torch

from openjepa.bench.flops import count_flops
from openjepa.bench.reference_ijepa import ReferenceStep
from openjepa.bench.steps import matmul_peak_gflops
from openjepa.data.images import ImageSet
from openjepa.data.loader import TrainBatches
from openjepa.masks.multiblock import MultiBlockConfig, MultiBlockMasker
from openjepa.optim.adamw import build_optimizer
from openjepa.runs.build import build_method
from openjepa.runs.config import RunConfig, build_config
from openjepa.train.distributed import DistInfo
from openjepa.train.loop import TrainStep

IMAGE, PATCH, BATCH, BLOCKS = 64, 8, 64, 4
ENCODER = {"width": 192, "depth": 12, "heads": 3}
PREDICTOR = {"width": 96, "depth": 6, "heads": 3}


def bench_config(precision: str) -> RunConfig:
    """openjepa's I-JEPA at the benchmark's configuration."""
    return build_config({
        "method": {"name": "ijepa", "predictor": dict(PREDICTOR), "mask": {"num_targets": BLOCKS}},
        "encoder": {"size": "tiny", "patch_size": PATCH},
        "data": {"modality": "image", "mean": [0.5] * 3, "std": [0.25] * 3},
        "spec": {"modality": "image", "channels": 3, "size": [IMAGE, IMAGE]},
        "train": {"precision": precision, "steps": 1000},
        "optim": {"clip_grad": None}})


def equal_masks(grid: int, batch: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """Multi-block masks for ``batch`` images, the context cut to the batch's shortest and every target block to the
    shortest block (as the reference's collator does): ``ctx_idx (B, Lc)``, ``tgt_idx (B, K, Lt)`` and their all-true
    ``*_valid``."""
    masker = MultiBlockMasker(MultiBlockConfig(num_targets=BLOCKS), (grid, grid))
    draws = [masker(seed, 0, i) for i in range(batch)]
    lc = min(len(d.context) for d in draws)
    lt = min(len(t) for d in draws for t in d.targets)
    ctx = torch.stack([torch.as_tensor(d.context[:lc]) for d in draws])
    tgt = torch.stack([torch.stack([torch.as_tensor(t[:lt]) for t in d.targets]) for d in draws])
    return {"ctx_idx": ctx, "ctx_valid": torch.ones_like(ctx, dtype=torch.bool),
            "tgt_idx": tgt, "tgt_valid": torch.ones_like(tgt, dtype=torch.bool)}


def own_mask_tokens(batch: int = BATCH, seed: int = 0) -> dict[str, float]:
    """Per image, with openjepa's own masks (one forward of the benchmark's I-JEPA): real context and target tokens,
    the rows the context encoder's and the predictor's blocks are given (counted by hooks on their first block),
    and the padded lengths a step without packing would have run."""
    torch.manual_seed(seed)
    method = build_method(bench_config("fp32"))
    images = torch.randint(0, 256, (batch, 3, IMAGE, IMAGE), dtype=torch.uint8)
    data = ImageSet(images, torch.zeros(batch, dtype=torch.long), ["x"])
    inputs = next(TrainBatches(data, batch, seed, extras=method.sample_extras()).iterate(0, 1))
    rows: dict[str, int] = {}

    def counter(name: str):
        def hook(module, args):
            x = args[0]
            rows[name] = x.shape[0] if x.ndim == 2 else x.shape[0] * x.shape[1]
        return hook

    handles = [method.encoder.blocks[0].register_forward_pre_hook(counter("encoder")),
               method.predictor.blocks[0].register_forward_pre_hook(counter("predictor"))]
    with torch.no_grad():
        method({**inputs, "diagnose": False})
    for handle in handles:
        handle.remove()
    ctx_valid, tgt_valid = inputs["ctx_valid"], inputs["tgt_valid"]
    return {"real_context": float(ctx_valid.sum()) / batch, "real_target": float(tgt_valid.sum()) / batch,
            "encoder_tokens": rows["encoder"] / batch, "predictor_tokens": rows["predictor"] / batch,
            "padded_context": float(ctx_valid.shape[1]), "padded_target": float(tgt_valid[0].numel())}


def _timed(fn, steps: int) -> float:
    t0 = time.perf_counter()
    for _ in range(steps):
        fn()
    return (time.perf_counter() - t0) / steps


def compare(precision: str, rounds: int, steps: int, peak: float) -> dict:
    """Median step seconds of openjepa and of the reference in ``rounds`` interleaved rounds of ``steps`` steps."""
    torch.manual_seed(0)
    cfg = bench_config(precision)
    method = build_method(cfg)
    train_step = TrainStep(cfg, method, build_optimizer(method, cfg.optim), DistInfo(device=torch.device("cpu")))
    images = torch.randint(0, 256, (BATCH, 3, IMAGE, IMAGE), dtype=torch.uint8)
    batch = next(TrainBatches(ImageSet(images, torch.zeros(BATCH, dtype=torch.long), ["x"]), BATCH, 0)
                 .iterate(0, 1))
    batch.update(equal_masks(IMAGE // PATCH, BATCH), diagnose=False)
    reference = ReferenceStep(IMAGE, PATCH, ENCODER["width"], ENCODER["depth"], ENCODER["heads"],
                              PREDICTOR["width"], PREDICTOR["depth"], PREDICTOR["heads"], bf16=precision == "bf16")
    ref_inputs = (method.normalize(batch["inputs"]), batch["ctx_idx"], batch["tgt_idx"])

    def ours() -> None:
        train_step(batch, cfg.train.steps, [])

    def theirs() -> None:
        reference(*ref_inputs)

    flops = {"openjepa": count_flops(ours), "reference": count_flops(theirs)}
    for fn in (ours, theirs, ours, theirs):  # warm-up
        fn()
    times: dict[str, list[float]] = {"openjepa": [], "reference": []}
    for _ in range(rounds):
        times["openjepa"].append(_timed(ours, steps))
        times["reference"].append(_timed(theirs, steps))
    out = {name: {"step_s": statistics.median(t), "rounds_s": t, "gflop": flops[name] / 1e9,
                  "fraction_of_peak": flops[name] / statistics.median(t) / 1e9 / peak} for name, t in times.items()}
    out["ratio"] = out["openjepa"]["step_s"] / out["reference"]["step_s"]
    out["context_tokens"] = int(batch["ctx_idx"].shape[1])
    out["target_tokens_per_block"] = int(batch["tgt_idx"].shape[2])
    return out


def run_vs_reference(precisions: list[str], rounds: int = 5, steps: int = 2, json_path: Path | None = None) -> dict:
    """Print and return (and write to ``json_path``) ``{"vs_reference": {precision: {"ratio", ...}}}``."""
    print(f"I-JEPA step, openjepa beside the reference step on equal masks: ViT-tiny {ENCODER['width']}x"
          f"{ENCODER['depth']}, {IMAGE}px, patch {PATCH}, predictor {PREDICTOR['width']}x{PREDICTOR['depth']}, "
          f"{BLOCKS} target blocks, batch {BATCH}; {torch.get_num_threads()} threads, {rounds} interleaved rounds of "
          f"{steps} steps", flush=True)
    result: dict = {"vs_reference": {}, "own_masks": own_mask_tokens()}
    for precision in precisions:
        peak = matmul_peak_gflops(torch.float32 if precision == "fp32" else torch.bfloat16, torch.device("cpu"))
        r = compare(precision, rounds, steps, peak)
        r["peak_gflops"] = peak
        result["vs_reference"][precision] = r
        print(f"{precision}: openjepa {r['openjepa']['step_s']:.3f} s/step ({r['openjepa']['gflop']:.1f} GFLOP, "
              f"{r['openjepa']['fraction_of_peak']:.0%} of the {peak:.0f} GFLOP/s peak), reference "
              f"{r['reference']['step_s']:.3f} s/step ({r['reference']['gflop']:.1f} GFLOP, "
              f"{r['reference']['fraction_of_peak']:.0%}); ratio {r['ratio']:.3f} (context {r['context_tokens']} "
              f"tokens, blocks of {r['target_tokens_per_block']})", flush=True)
    own = result["own_masks"]
    print(f"own masks, per image: {own['real_context']:.1f} real context tokens, the context encoder's blocks get "
          f"{own['encoder_tokens']:.1f} (padded: {own['padded_context']:.0f}); {own['real_target']:.1f} real target "
          f"tokens, the predictor's blocks get {own['predictor_tokens']:.1f} with the context (padded: "
          f"{own['padded_context'] + own['padded_target']:.0f})")
    if json_path is not None:
        json_path.write_text(json.dumps(result, indent=1))
        print(f"wrote {json_path}")
    return result
