"""Measure the ground under a latent-variable bar on ``fork_sprites``: can a predictor use the way the sprite took?

Freezes a ``latentz_fork_tiny`` run's encoders, computes its context features and targets for 4000 training and 500
held-out clips once, then trains fresh predictors on them and prints each one's held-out error (the method's L1,
predictions of the change added to step 0's features, as the run scores them):

- ``none``: no latent; ``oracle``: the latent is a code per way, told the true way (the ceiling any z can reach);
- ``blind`` (always printed): step 0's features plus the median change over the training clips, per position;
- ``discrete`` / ``discrete_cap0``: learned codes, best-of-K (balanced, or not); ``continuous``: sparse z, F.

    python benchmarks/latent_oracle.py RUN [--variants oracle,none] [--steps 600] [--width 96 --depth 4]
        [--random-context] [--synthetic]

``--random-context``: the context features of the random-init encoder instead; ``--synthetic``: add 3.0 to one
target feature chosen by the way (a check that the conditioning path can carry the way at all).
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import torch

from openjepa.eval.energy import pair_tokens
from openjepa.methods.vjepa import first_step_features
from openjepa.modalities.registry import load_data
from openjepa.nn.latent import LatentConfig, LatentVariable
from openjepa.nn.predictor import MaskTokenPredictor, gather_tokens
from openjepa.objectives.energy import PredictionProblem, free_energy, latent_energies, repeat_rows
from openjepa.runs.build import load_trained_method, random_init_method

VARIANTS = {"none": LatentConfig(), "oracle": LatentConfig(kind="discrete", codes=4),
            "discrete": LatentConfig(kind="discrete", codes=4),
            "discrete_cap0": LatentConfig(kind="discrete", codes=4, capacity=0),
            "continuous": LatentConfig(kind="continuous")}


@torch.no_grad()
def features(method, context_encoder, clips: torch.Tensor, ctx: torch.Tensor, tgt: torch.Tensor):
    """Context features ``(N, Lc, D)``, targets at ``tgt`` ``(N, Lt, D)`` and step 0's features there."""
    out = []
    for s in range(0, len(clips), 256):
        x = method.normalize(clips[s : s + 256].float() / 255)
        B = len(x)
        targets = method.target_features(x)[..., : method.encoder.width]
        context = context_encoder.encode(context_encoder.tokenize(x), ctx.expand(B, -1))
        first = gather_tokens(first_step_features(targets, method.encoder.grid), tgt.expand(B, -1))
        out.append((context, gather_tokens(targets, tgt.expand(B, -1)), first))
    return [torch.cat(parts) for parts in zip(*out)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run")
    parser.add_argument("--variants", default="oracle,none")
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--width", type=int)
    parser.add_argument("--depth", type=int)
    parser.add_argument("--random-context", action="store_true")
    parser.add_argument("--synthetic", action="store_true")
    args = parser.parse_args()
    cfg, method = load_trained_method(args.run)
    data = load_data(cfg.data, cfg.spec)
    ctx, tgt = pair_tokens(method)
    encoder = random_init_method(cfg).encoder if args.random_context else method.encoder
    start = time.time()
    train = features(method, encoder, data.train.clips[:4000], ctx, tgt)
    test = features(method, encoder, data.test.clips[:500], ctx, tgt)
    ways = data.train.labels["exit"][:4000], data.test.labels["exit"][:500]
    if args.synthetic:
        for (_, targets, _), way in zip((train, test), ways):
            targets[torch.arange(len(way)), :, way * 10] += 3.0
    print(f"features of {len(train[0])} + {len(test[0])} clips: {time.time() - start:.0f} s", flush=True)
    change = (train[1] - train[2]).median(0).values  # (Lt, D): the median change at each target position
    blind = (test[2] + change - test[1]).abs().mean()
    print(f"blind (step 0's features plus the training median change, no context): {float(blind):.4f}", flush=True)
    width = args.width or cfg.method.predictor.width
    config = dataclasses.replace(cfg.method.predictor, width=width, depth=args.depth or cfg.method.predictor.depth)
    for name in args.variants.split(","):
        torch.manual_seed(0)
        predictor = MaskTokenPredictor(config, method.encoder.width, method.encoder.grid)
        latent = LatentVariable(VARIANTS[name], width, method.encoder.width)
        opt = torch.optim.AdamW([*predictor.parameters(), *latent.parameters()], lr=1e-3, weight_decay=0.05)

        def problem(context, targets, first):
            B = len(context)

            def predict(z):
                R = 1 if z is None else z.shape[1]
                out = predictor(repeat_rows(context, R), repeat_rows(ctx.expand(B, -1), R),
                                repeat_rows(tgt.expand(B, -1), R)[:, None], condition=latent.condition(z))[:, 0]
                return (out + repeat_rows(first, R)).view(B, R, len(tgt), -1)

            return PredictionProblem(predict, targets, "l1")

        start = time.time()
        for _ in range(args.steps):
            rows = torch.randint(0, len(train[0]), (64,))
            p = problem(*(t[rows] for t in train))
            if name == "oracle":
                loss = p.energies(latent.codes[ways[0][rows]][:, None]).mean()
            else:
                loss = free_energy(latent, p).energy.mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        predictor.eval()
        latent.eval()
        with torch.no_grad():
            p = problem(*test)
            if name == "oracle":
                errors = p.per_sample(p.energies(latent.codes[ways[1]][:, None]))
            elif latent.kind == "continuous":
                errors = p.per_sample(free_energy(latent, p).energy)[:, None]
            else:
                errors = latent_energies(latent, p)
        print(f"{name}: best-of-K {float(errors.min(1).values.mean()):.4f}, mean over K {float(errors.mean()):.4f} "
              f"({args.steps} steps, {time.time() - start:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
