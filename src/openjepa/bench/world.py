"""``openjepa bench --world``: LeWorldModel training throughput and CEM planning time per call, beside this
machine's matmul peak measured in the same run."""

from __future__ import annotations

import time

import torch

from openjepa.bench.flops import count_flops
from openjepa.bench.steps import matmul_peak_gflops, time_training_step
from openjepa.control.mpc import LatentGoalCost
from openjepa.control.planners import make_planner
from openjepa.core.spec import InputSpec
from openjepa.runs.build import build_method
from openjepa.runs.config import RunConfig, build_config, recipe_dict


class RandomWindows(torch.utils.data.Dataset):
    """``n`` random training windows: uint8 frames ``(C, T, H, W)`` and actions ``(T, A)``."""

    def __init__(self, n: int, frames: int, size: int, action_dim: int):
        gen = torch.Generator().manual_seed(0)
        self.frames = torch.randint(0, 256, (n, 3, frames, size, size), dtype=torch.uint8, generator=gen)
        self.actions = torch.rand(n, frames, action_dim, generator=gen) * 2 - 1

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, i: int):
        return self.frames[i], {"actions": self.actions[i]}


def world_config(recipe: str, precision: str | None = None, env_action_dim: int = 2, size: int = 32) -> RunConfig:
    """A world-model recipe with its input spec filled in for random 3-channel ``size`` px frames and actions of
    ``env_action_dim`` values."""
    cfg = build_config(recipe_dict(recipe), ["data.mean=[0.5,0.5,0.5]", "data.std=[0.25,0.25,0.25]"])
    cfg.spec = InputSpec("trajectory", 3, (size, size), frames=cfg.data.frames,
                         action_dim=env_action_dim * cfg.data.frame_step, state_dim=0)
    if precision:
        cfg.train.precision = precision
    return cfg


@torch.no_grad()
def plan_call_seconds(cfg, threads: int, calls: int = 3, precision: str = "fp32") -> tuple[float, float]:
    """Seconds per CEM call with the recipe's planner settings (random weights: timing does not depend on them)
    on ``threads`` threads with rollouts in ``precision``, and the GFLOP/s it achieves."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = build_method(cfg).eval().requires_grad_(False)
    planner = make_planner("cem", **cfg.method.plan.planner_args)
    cost = LatentGoalCost(model, cfg.method.plan.cost, precision=precision)
    h, dz, a = model.history, model.latent_dim, cfg.spec.action_dim
    cost.set(torch.randn(1, h, dz), torch.zeros(1, h - 1, a), torch.randn(1, dz))
    flops = count_flops(lambda: planner.plan(cost, 1, cfg.method.plan.horizon, a))
    t0 = time.perf_counter()
    for _ in range(calls):
        planner.plan(cost, 1, cfg.method.plan.horizon, a)
    seconds = (time.perf_counter() - t0) / calls
    return seconds, flops / seconds / 1e9


def run_world_bench(recipe: str = "lewm_tworoom_tiny", *, steps: int = 5, batch_size: int = 64,
                    threads: tuple[int, ...] = (1, 2)) -> dict:
    cfg = world_config(recipe)
    initial_threads = torch.get_num_threads()
    peaks = {p: matmul_peak_gflops(d, torch.device("cpu")) for p, d in (("fp32", torch.float32),
                                                                         ("bf16", torch.bfloat16))}
    print(f"{recipe}: {cfg.spec.size[0]}px frames, windows of {cfg.data.frames} model steps, frameskip "
          f"{cfg.data.frame_step}; {initial_threads} threads; machine peak fp32 {peaks['fp32']:.0f}, "
          f"bf16 {peaks['bf16']:.0f} GFLOP/s")
    out = {"recipe": recipe, "peak_gflops": peaks, "train": {}, "plan": {}}
    for precision in ("fp32", "bf16"):
        data = RandomWindows(batch_size, cfg.data.frames, cfg.spec.size[0], cfg.spec.action_dim)
        timing, _ = time_training_step(world_config(recipe, precision), data, batch_size, steps, torch.device("cpu"))
        timing["fraction_of_peak"] = timing["gflops"] / peaks[precision]
        out["train"][precision] = timing
        print(f"train {precision}: {timing['step_s']:.3f} s/step, {timing['images_per_s']:.1f} windows/s, "
              f"{timing['gflops']:.1f} GFLOP/s ({timing['fraction_of_peak']:.1%} of peak), "
              f"{timing['peak_memory_mb']:.0f} MB")
    args = cfg.method.plan.planner_args
    for precision in ("fp32", "bf16"):
        for n in threads:
            seconds, gflops = plan_call_seconds(cfg, n, precision=precision)
            out["plan"][f"{precision}, {n} threads"] = {"seconds_per_call": seconds, "gflops": gflops}
            print(f"CEM {int(args['samples'])} samples / {int(args['elites'])} elites / {int(args['iterations'])} "
                  f"iterations, horizon {cfg.method.plan.horizon}, rollouts in {precision}, {n} thread(s): "
                  f"{seconds:.3f} s per call, {gflops:.1f} GFLOP/s")
    torch.set_num_threads(initial_threads)
    return out
