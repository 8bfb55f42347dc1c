"""How a predictor with a latent variable copes with a future that can go several ways (``fork_sprites``).

On held-out clips, from the first half of time steps: the error of the predictions of the second half's target
features under K latents (``best_of_k_error``: the nearest of the K, per clip; ``mean_error``: their average), in
the method's own distance; ``still_error``, the error of predicting that nothing moves (the first time step's
features carried on), is the scale they read against. A model without z makes one prediction, so its best-of-K error
is its error. Then the free energy F of each clip's own second half against another clip's (``energy_auroc``,
``energy_gap``: mean shuffled minus mean true) and, on ``fork_sprites``, of the two futures the clip could have had
instead (``other_futures_energy``: compatible, so low where z can carry the way taken).

The K latents: every code of a discrete z; for a continuous z, the z's that F found for K training clips (draws
from the latents training needed).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from openjepa.core.errors import TrainingError
from openjepa.core.protocols import PredictsTargets
from openjepa.data.fork_sprites import other_futures
from openjepa.eval.energy import Pairs, landscape, pair_tokens, plane_coords
from openjepa.eval.registry import EVAL_TASKS
from openjepa.eval.task import EvalContext, EvalTask
from openjepa.methods.vjepa import first_step_features
from openjepa.modalities.registry import MODALITIES
from openjepa.nn.predictor import gather_tokens
from openjepa.objectives.distances import token_distance
from openjepa.objectives.energy import free_energy
from openjepa.viz.energy_landscapes import LandscapePanel, save_landscapes

DRAW_SEED = 0
SHOWN = 4  # clips in the landscape picture
GRID = torch.linspace(-0.5, 1.5, 25)  # the picture's slice: the true future at 0, the two others at 1


def _inputs(split, prepare, count: int) -> torch.Tensor:
    """The first ``count`` items of a split, prepared as the modality prepares a batch."""
    return prepare(torch.stack([split[i][0] for i in range(min(count, len(split)))]))


@torch.no_grad()
def latent_draws(method, clips: torch.Tensor, count: int) -> torch.Tensor | None:
    """``(count, dim)`` latents to score each test clip under: the codes (discrete), F's z for ``count`` training
    clips (continuous), or None."""
    latent = method.latent
    if not latent.active:
        return None
    if latent.kind == "discrete":
        return latent.codes.detach()
    pick = torch.randperm(len(clips), generator=torch.Generator().manual_seed(DRAW_SEED))[:count]
    return free_energy(latent, Pairs(method, clips[pick]).problem(*[torch.arange(len(pick))] * 2)).z


@torch.no_grad()
def prediction_errors(method, test: torch.Tensor, draws: torch.Tensor | None,
                      batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per test clip (in [0, 1]) the error under each draw ``(N, K)`` and of the still prediction ``(N,)``."""
    grid, width = method.encoder.grid, method.encoder.width
    device = next(method.parameters()).device
    ctx, tgt = (ids.to(device) for ids in pair_tokens(method))
    errors, still = [], []
    for start in range(0, len(test), batch_size):
        x = method.normalize(test[start : start + batch_size].to(device))
        targets = method.target_features(x)
        problem = method.prediction_problem(x, ctx.expand(len(x), -1), tgt.expand(len(x), -1), targets)
        z = None if draws is None else draws[None].expand(len(x), -1, -1)
        errors.append(problem.per_sample(problem.energies(z)).cpu())
        carried = gather_tokens(first_step_features(targets[..., :width], grid), tgt.expand(len(x), -1))
        still.append(problem.per_sample(token_distance(carried.float(), problem.targets.float(), problem.distance))
                     .cpu())
    return torch.cat(errors), torch.cat(still)


@torch.no_grad()
def multimodal_report(method, test: torch.Tensor, train: torch.Tensor, others: list[torch.Tensor], *,
                      batch_size: int = 64) -> dict[str, Any]:
    """The figures of the module docstring for ``test`` clips in [0, 1] ``(N, C, T, H, W)``; ``train`` clips
    supply a continuous z's draws; ``others``: the clips with the futures each could have had instead (may be
    empty)."""
    errors, still = prediction_errors(method, test, latent_draws(method, train, method.latent.config.codes),
                                      batch_size)
    pairs = Pairs(method, test).shuffled(batch_size)
    report = {"best_of_k_error": float(errors.min(1).values.mean()), "mean_error": float(errors.mean()),
              "still_error": float(still.mean()), "k": errors.shape[1], "energy_auroc": pairs["auroc"],
              "energy_gap": pairs["energy_gap"], "true_energy": pairs["true_energy"],
              "shuffled_energy": pairs["shuffled_energy"], "pairs": pairs["pairs"]}
    if others:
        own = torch.arange(len(test))
        report["other_futures_energy"] = float(torch.stack([Pairs(method, o).free_energies(own, own, batch_size)
                                                            for o in others]).mean())
    return report


@torch.no_grad()
def futures_landscapes(method, test: torch.Tensor, others: list[torch.Tensor]) -> list[LandscapePanel]:
    """F over the plane through the three futures of the first clips: the true one at (0, 0), the two others at
    (1, 0) and (0, 1)."""
    latent, panels = method.latent, []
    n = len(GRID) ** 2
    for i in range(min(SHOWN, len(test))):
        one = torch.zeros(1, dtype=torch.long)
        futures = [Pairs(method, clips[i : i + 1]).problem(one, one).targets[0] for clips in (test, *others)]
        directions = torch.stack([(f - futures[0]).flatten() for f in futures[1:]])
        copies = torch.zeros(n, dtype=torch.long)
        grid = landscape(latent, Pairs(method, test[i : i + 1]).problem(copies, copies), directions, GRID)
        coords = plane_coords(futures[0], directions, torch.stack(futures)).cpu().numpy()
        marks = {"the future that happened": (coords[:1], "white", "*"),
                 "the two it could have had": (coords[1:], "tab:orange", "P")}
        panels.append(LandscapePanel(grid.numpy(), float(GRID[0]), float(GRID[-1]), marks,
                                     Pairs(method, test).picture(i)))
    return panels


@EVAL_TASKS.register("multimodal")
class Multimodal(EvalTask):
    name = "multimodal"

    def run(self, ctx: EvalContext) -> dict[str, Any]:
        method = ctx.trained
        if not isinstance(method, PredictsTargets) or not method.encoder.reads_clips:
            raise TrainingError(f"{ctx.run_dir}: the multimodal task needs a video JEPA with a predictor (vjepa)")
        prepare = MODALITIES.get(ctx.cfg.data.modality)().prepare
        test = _inputs(ctx.data.test, prepare, len(ctx.data.test))
        train = _inputs(ctx.data.train, prepare, 2048)
        others = ([prepare(o.clips) for o in other_futures(ctx.data.test)]
                  if ctx.cfg.data.dataset == "fork_sprites" else [])
        batch = ctx.cfg.eval.video_batch_size
        results = multimodal_report(method, test, train, others, batch_size=batch)
        results["random_init"] = multimodal_report(ctx.random_init, test, train, others, batch_size=batch)
        self._shown = test, others
        return {"multimodal": results}

    def table(self, results: dict[str, Any]) -> str:
        rows = [("trained", results["multimodal"]), ("random init", results["multimodal"]["random_init"])]
        lines = [f"{'':13}{'best-of-K':>10}{'mean':>8}{'still':>8}{'AUROC':>7}{'gap':>8}{'F other futures':>16}"]
        lines += [f"{name:13}{r['best_of_k_error']:>10.4f}{r['mean_error']:>8.4f}{r['still_error']:>8.4f}"
                  f"{r['energy_auroc']:>7.3f}{r['energy_gap']:>8.4f}{r.get('other_futures_energy', np.nan):>16.4f}"
                  for name, r in rows]
        return "\n".join(lines)

    def pictures(self, ctx: EvalContext) -> list[Path]:
        """``plots/futures_landscapes.png`` (``fork_sprites``): F over the plane through each shown clip's three
        possible futures."""
        test, others = self._shown
        if not others:
            return []
        return [save_landscapes(futures_landscapes(ctx.trained, test, others),
                                ctx.run_dir / "plots" / "futures_landscapes.png",
                                "F(x, y) over the plane through the three futures of a clip",
                                ("towards the first other future", "towards the second other future"))]
