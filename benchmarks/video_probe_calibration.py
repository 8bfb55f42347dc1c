"""How much an attentive probe can read from the built-in sprites, before any encoder is trained.

Two ceilings for the time-dependent label (``direction`` by default), each measured here:

- the *sprite map*: the true share of sprite pixels in each tubelet token plus the token's 3-D sincos
  position, probed at several budgets (epochs x training clips). A probe that cannot read the label
  from the true map cannot tell a trained encoder from a random one;
- *supervised*: the tiny video ViT of ``vjepa_tiny`` with an attentive head, trained end to end on the
  label for ``--supervised-steps`` steps (batch 64, AdamW 3e-4, bf16), from the same random init a run
  starts from: what labels buy in that many steps.

    python benchmarks/video_probe_calibration.py [--label direction] [--budgets 10x3000,50x6000]
                                                 [--supervised-steps 1000] [--dataset sprites]
                                                 [--train-size 6000]
"""

from __future__ import annotations

import argparse
import math
import time

import torch
import torch.nn.functional as F

from openjepa.data.registry import DATASETS
from openjepa.eval.attentive import AttentiveClassifier, AttentiveProbeConfig, attentive_probe
from openjepa.eval.clips import token_occupancy
from openjepa.modalities.registry import load_data
from openjepa.modalities.video import VideoDataConfig
from openjepa.nn.posembed import sincos_grid
from openjepa.runs.build import build_method
from openjepa.runs.config import build_config, recipe_dict
from openjepa.runs.prepare import fill_spec


def sprite_map_tokens(masks: torch.Tensor, tubelet: int, patch: int) -> torch.Tensor:
    """``(N, L, 64)``: each token's 3-D sincos position (60 dims) and its sprite share (4 copies)."""
    occupancy = token_occupancy(masks, tubelet, patch)
    t, h, w = masks.shape[1] // tubelet, masks.shape[2] // patch, masks.shape[3] // patch
    position = sincos_grid((t, h, w), 60).expand(len(occupancy), -1, -1)
    return torch.cat([position, occupancy[..., None].expand(-1, -1, 4)], -1)


def supervised(data, label: str, steps: int) -> float:
    """Test accuracy of ``vjepa_tiny``'s encoder + an attentive head trained end to end on ``label``."""
    cfg = fill_spec(build_config(recipe_dict("vjepa_tiny")), data)
    torch.manual_seed(cfg.train.seed)
    method = build_method(cfg)
    encoder, normalize = method.encoder, method.normalize
    head = AttentiveClassifier(encoder.width, len(data.train.classes[label]))
    opt = torch.optim.AdamW([*encoder.parameters(), *head.parameters()], lr=3e-4, weight_decay=0.05)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1, s / 50) * 0.5 * (1 + math.cos(math.pi * s / steps)))
    clips, y = data.train.clips, data.train.labels[label]

    def logits(x: torch.Tensor) -> torch.Tensor:
        with torch.autocast("cpu", torch.bfloat16):
            return head(encoder.encode(encoder.tokenize(normalize(x.float() / 255)))).float()

    gen = torch.Generator().manual_seed(0)
    for step in range(steps):
        idx = torch.randint(0, len(clips), (64,), generator=gen)
        loss = F.cross_entropy(logits(clips[idx]), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if step % 100 == 0:
            print(f"  supervised step {step}: loss {loss.item():.3f}", flush=True)
    encoder.eval(), head.eval()
    with torch.no_grad():
        pred = torch.cat([logits(x).argmax(1) for x in data.test.clips.split(256)])
    return float((pred == data.test.labels[label]).float().mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label", default="direction")
    parser.add_argument("--budgets", default="10x3000,50x6000",
                        help="probe budgets, EPOCHSxCLIPS, comma-separated (empty: none)")
    parser.add_argument("--supervised-steps", type=int, default=0, help="0: skip the supervised ceiling")
    recipe = recipe_dict("vjepa_tiny")
    recipe_data = recipe["data"]
    video_sets = sorted(name for name in DATASETS.names() if DATASETS.info(name)["modality"] == "video")
    parser.add_argument("--dataset", choices=video_sets, default=recipe_data["dataset"],
                        help="built-in clips (default: vjepa_tiny's)")
    parser.add_argument("--train-size", type=int, default=recipe_data["train_size"],
                        help="generated training clips (default: vjepa_tiny's; the 1000 test clips stay the same)")
    args = parser.parse_args()
    data = load_data(VideoDataConfig(dataset=args.dataset, frames=recipe_data["frames"],
                                     image_size=recipe_data["image_size"], train_size=args.train_size))
    token_size = recipe["encoder"]["tubelet"], recipe["encoder"]["patch_size"]  # tokens as the tiny recipe cuts them
    test = sprite_map_tokens(data.test.masks, *token_size)
    chance = 1 / len(data.train.classes[args.label])
    print(f"{args.dataset} ({args.train_size} training clips), label {args.label} "
          f"({len(data.train.classes[args.label])} classes, chance {chance:.3f})")
    for budget in filter(None, args.budgets.split(",")):
        epochs, clips = (int(v) for v in budget.split("x"))
        started = time.perf_counter()
        train = sprite_map_tokens(data.train.masks[:clips], *token_size)
        result = attentive_probe(train, data.train.labels[args.label][:clips], test, data.test.labels[args.label],
                                 AttentiveProbeConfig(epochs=epochs, weight_decays=(0.01,)))
        print(f"sprite map, probe {epochs} epochs on {clips} clips: {result['accuracy']:.3f} "
              f"({time.perf_counter() - started:.0f} s)", flush=True)
    if args.supervised_steps:
        started = time.perf_counter()
        accuracy = supervised(data, args.label, args.supervised_steps)
        print(f"supervised vjepa_tiny encoder, {args.supervised_steps} steps: {accuracy:.3f} "
              f"({time.perf_counter() - started:.0f} s, {torch.get_num_threads()} threads)")


if __name__ == "__main__":
    main()
