"""Evaluate a video run: attentive probes on frozen token features of the trained encoder, the same
architecture at random init, and the trained encoder shown a single frame (the clip's first frame
held still), all in one run; plus dense probes (per-token readouts of the sprite mask and of the
sprite's motion) where the dataset has masks -> ``RUN/eval.json``. Test videos longer than a clip are
scored on ``eval.test_clips`` evenly spaced clips each, the probe's class probabilities averaged over them."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import replace

import torch
import torch.nn.functional as F

from openjepa.data.augment import IDENTITY, Symmetry, flipped, symmetries
from openjepa.eval.attentive import AttentiveProbeConfig, attentive_probe
from openjepa.eval.features import encoder_features

log = logging.getLogger("openjepa")

DENSE_CLIPS = 6000  # the dense probes' training clips: 384000 tokens of a tiny run pin R^2 to a few thousandths,
# and the float64 ridge regression on more would take gigabytes
TOKENS = {"clip": "the whole clip encoded at once", "step": "each time step encoded on its own"}


def clips_at(split, idx: torch.Tensor) -> torch.Tensor:
    """uint8 clips ``(b, C, T, H, W)`` of a split at ``idx (b,)``: held in memory, or decoded item by item."""
    if hasattr(split, "clips"):
        return split.clips[idx]
    return torch.stack([split[int(i)][0] for i in idx])


def clip_batches(split, limit: int | None, batch_size: int):
    """uint8 clips ``(b, C, T, H, W)`` of the first ``limit`` items of a split, in order."""
    n = len(split) if limit is None else min(limit, len(split))
    for start in range(0, n, batch_size):
        yield clips_at(split, torch.arange(start, min(n, start + batch_size)))


def still_clips(clips: torch.Tensor) -> torch.Tensor:
    """Every frame replaced by the first: ``(B, C, T, H, W)``, no motion left."""
    return clips[:, :, :1].expand_as(clips)


class StepwiseEncoder(torch.nn.Module):
    """A video encoder applied to each tubelet time step of a clip on its own: clips ``(B, C, T, H, W)`` -> tokens
    ``(B, N, D)`` in the encoder's order; a step's tokens attend only to each other, at their own positions, as a
    one-step context is encoded in training."""

    def __init__(self, encoder: torch.nn.Module):
        super().__init__()
        self.encoder = encoder

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens, grid = self.encoder.tokenize(x), self.encoder.input_grid(x)
        steps = torch.arange(tokens.shape[1], device=x.device).view(grid[0], math.prod(grid[1:]))
        return torch.cat([self.encoder.encode(tokens, keep=step.expand(len(x), -1), grid=grid) for step in steps], 1)


def token_features(encoder: torch.nn.Module, normalize: torch.nn.Module, split, *, limit: int | None = None,
                   batch_size: int = 64, device: torch.device | str = "cpu", bf16: bool = False,
                   still: bool = False, symmetry: Symmetry = IDENTITY) -> torch.Tensor:
    """Frozen token features ``(N, L, D)`` (float16, CPU) of a split's clips, or of their first frames held still,
    flipped by ``symmetry``."""
    return torch.cat([
        encoder_features(encoder, normalize, flipped(still_clips(clips) if still else clips, symmetry), pool=False,
                         batch_size=batch_size, device=device, bf16=bf16).half()
        for clips in clip_batches(split, limit, batch_size)])


def flipped_labels(split, label: str, symmetry: Symmetry) -> torch.Tensor:
    """A split's ``label`` ``(N,)`` once its clips are flipped by ``symmetry``: by the dataset's own rule (the sprites
    turn their directions), else unchanged (class labels such as actions, for which the user chose the flips)."""
    if hasattr(split, "flipped_labels"):
        return split.flipped_labels(label, symmetry)
    return split.labels[label]


def token_occupancy(masks: torch.Tensor, tubelet: int, patch: int) -> torch.Tensor:
    """Per-token share of sprite pixels ``(N, L)`` from masks ``(N, T, H, W)``, tokens in raster order."""
    pooled = F.avg_pool3d(masks[:, None].float(), kernel_size=(tubelet, patch, patch))
    return pooled.flatten(1)


def token_motion(occupancy: torch.Tensor, velocity: torch.Tensor, tubelet: int) -> torch.Tensor:
    """Per-token sprite motion ``(N, L, 2)``: each token's share of sprite pixels (``occupancy (N, L)``, from
    :func:`token_occupancy`) times the sprite's mean displacement (dx, dy) per frame between the token's first
    and last frames (with one-frame tokens: to the next frame), from ``velocity (N, T, 2)`` (frame t to t+1);
    0 where there is no sprite. Tokens in raster order."""
    n, steps = len(velocity), velocity.shape[1] // tubelet
    moves = velocity[:, : steps * tubelet].float().view(n, steps, tubelet, 2)[:, :, : max(1, tubelet - 1)]
    return (occupancy.view(n, steps, -1, 1) * moves.mean(2)[:, :, None]).flatten(1, 2)


def dense_probe(train_x: torch.Tensor, train_y: torch.Tensor, test_x: torch.Tensor, test_y: torch.Tensor,
                ridges: tuple[float, ...] = (1e-2, 1.0, 1e2, 1e4)) -> float:
    """R^2 beyond position of a ridge regression from each token's features ``(N, L, D)`` to a per-token
    target ``(N, L)`` or ``(N, L, K)`` (the mean of the K outputs' R^2); the ridge strength is picked on a
    held-out tenth of the training clips.

    Features and targets are centred per token position (means of the training clips), so the probe reads
    only what the features say about the content at a position: 0 is what knowing the position alone
    predicts (an absolute position table scores nothing for itself), 1 is the exact target.
    """
    n_val = max(1, len(train_x) // 10)
    x_mean, y_mean = train_x[n_val:].float().mean(0), train_y[n_val:].float().mean(0)  # (L, D), (L[, K])

    def flat(x, y):
        return (x.float() - x_mean).flatten(0, 1), (y.float() - y_mean).flatten(0, 1)

    (xf, yf), (xv, yv), (xt, yt) = flat(train_x[n_val:], train_y[n_val:]), flat(train_x[:n_val], train_y[:n_val]), \
        flat(test_x, test_y)
    std = xf.std(0).clamp_min(1e-6)

    def fit(x, y, ridge):
        x = (x / std).double()
        gram = x.T @ x + ridge * torch.eye(x.shape[1], dtype=torch.float64)
        return torch.linalg.solve(gram, x.T @ y.double())

    def r2(w, x, y):
        error = ((x / std).double() @ w - y).reshape(len(y), -1)
        return float((1 - error.square().sum(0) / y.reshape(len(y), -1).square().sum(0).clamp_min(1e-12)).mean())

    best = max(ridges, key=lambda r: r2(fit(xf, yf, r), xv, yv))
    x_all, y_all = flat(train_x, train_y)
    return r2(fit(x_all, y_all, best), xt, yt)


def evaluate_clips(cfg, trained, random_method, data, *, device) -> dict:
    """The video evaluation of a trained method beside its random init; returns the results dict."""
    started = time.perf_counter()
    ev = cfg.eval
    train, test = data.train, data.test
    label = ev.label or train.primary
    if label not in train.labels:
        raise ValueError(f"{data.name} has no label '{label}'; it has {', '.join(sorted(train.labels))}")
    limit = ev.max_train
    n_train = len(train) if limit is None else min(limit, len(train))
    train_symmetries = symmetries(ev.probe_flips)
    y_train = torch.stack([flipped_labels(train, label, s)[:n_train] for s in train_symmetries], 1)  # (N, V)
    y_test = test.labels[label]
    test_views = test.views(ev.test_clips) if hasattr(test, "views") else [test]  # one clip per built-in video
    bf16 = cfg.train.precision == "bf16"
    encoder = trained.eval_encoder(ev.encoder)
    as_probed = StepwiseEncoder if ev.tokens == "step" else (lambda net: net)
    sets = {
        "trained": (as_probed(encoder), trained.normalize, False),
        "random_init": (as_probed(random_method.eval_encoder(ev.encoder)), random_method.normalize, False),
        "single_frame": (as_probed(encoder), trained.normalize, True),
    }
    probe_cfg = AttentiveProbeConfig(epochs=ev.attentive_epochs, self_attention_layers=ev.attentive_layers,
                                     weight_decays=(ev.attentive_weight_decay,),
                                     warmups=tuple(ev.attentive_warmups) or (None,))
    results: dict = {"attentive": {}, "attentive_seeds": {}, "attentive_warmup": {}, "dense": {}}
    log.info("attentive probes: %d training clips in %d views each (probe_flips: %s)", n_train,
             len(train_symmetries), ev.probe_flips)
    features = {}
    for name, (net, normalize, still) in sets.items():
        kwargs = dict(batch_size=ev.video_batch_size, device=device, bf16=bf16, still=still)
        train_views = torch.stack([token_features(net, normalize, train, limit=n_train, symmetry=s, **kwargs)
                                   for s in train_symmetries], 1)  # (N, V, L, D); view 0 unflipped
        test_features = [token_features(net, normalize, view, **kwargs) for view in test_views]
        probes = [attentive_probe(train_views, y_train, test_features, y_test, replace(probe_cfg, seed=seed))
                  for seed in range(ev.probe_seeds)]
        accs = [probe["accuracy"] for probe in probes]
        results["attentive_warmup"][name] = [probe["warmup"] for probe in probes]
        features[name] = (train_views[:, 0].contiguous(), test_features)  # a copy only when there are flips
        del train_views
        results["attentive"][name] = sum(accs) / len(accs)
        results["attentive_seeds"][name] = accs
        log.info("%-12s attentive probe (%s): %.3f%s%s", name, label, results["attentive"][name],
                 f" (seeds: {', '.join(f'{a:.3f}' for a in accs)})" if len(accs) > 1 else "",
                 f" (warmup picked: {results['attentive_warmup'][name]})" if len(probe_cfg.warmups) > 1 else "")
    n_dense = min(n_train, DENSE_CLIPS) if hasattr(train, "masks") else None
    if n_dense is not None:
        tubelet, patch = encoder.config.tubelet, encoder.config.patch_size
        occ_train = token_occupancy(train.masks[:n_dense], tubelet, patch)
        occ_test = token_occupancy(test.masks, tubelet, patch)
        targets = {"dense": (occ_train, occ_test, "sprite mask"),
                   "dense_motion": (token_motion(occ_train, train.velocity[:n_dense], tubelet),
                                    token_motion(occ_test, test.velocity, tubelet), "sprite motion")}
        for key, (y_train_tokens, y_test_tokens, what) in targets.items():
            results[key] = {}
            for name in ("trained", "random_init"):
                results[key][name] = dense_probe(features[name][0][:n_dense], y_train_tokens, features[name][1][0],
                                                 y_test_tokens)
                log.info("%-12s dense probe (%s R^2): %.3f", name, what, results[key][name])
    results["meta"] = {"dataset": data.name, "label": label, "classes": len(train.classes[label]),
                       "train_clips": n_train, "dense_train_clips": n_dense,
                       "test_clips": len(test), "clips_per_test_video": len(test_views),
                       "probe_flips": ev.probe_flips, "probe_views_per_clip": len(train_symmetries),
                       "encoder": ev.encoder,
                       "tokens": ev.tokens,
                       "features": f"final-layer tokens of {TOKENS[ev.tokens]}, frozen; attentive probe "
                                   f"({ev.attentive_layers} self-attention + 1 cross-attention block)",
                       "single_frame": "the trained encoder on the clip's first frame held still",
                       "seconds": round(time.perf_counter() - started, 1)}
    return results
