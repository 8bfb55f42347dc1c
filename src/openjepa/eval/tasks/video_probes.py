"""Attentive probes on frozen token features of the trained encoder, the same architecture at random init, and the
trained encoder shown a single frame (the clip's first frame held still), all in one run; plus dense probes
(per-token readouts of the sprite mask and of the sprite's motion) where the dataset has masks. Test videos longer
than a clip are scored on ``eval.test_clips`` evenly spaced clips each, the probe's class probabilities averaged
over them."""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from typing import Any

import torch

from openjepa.core.device import uses_bf16
from openjepa.core.errors import DataError
from openjepa.core.protocols import Method
from openjepa.data.augment import symmetries
from openjepa.data.clips import VideoData
from openjepa.eval.attentive import AttentiveProbeConfig, attentive_probe
from openjepa.eval.clips import StepwiseEncoder, flipped_labels, token_features, token_motion, token_occupancy
from openjepa.eval.probes import dense_probe
from openjepa.eval.registry import EVAL_TASKS
from openjepa.eval.saved_probe import probe_artifact
from openjepa.eval.task import EvalContext, EvalTask
from openjepa.eval.tasks.image_probes import row_title
from openjepa.runs.config import RunConfig

log = logging.getLogger("openjepa")

DENSE_CLIPS = 6000  # the dense probes' training clips: 384000 tokens of a tiny run pin R^2 to a few thousandths,
# and the float64 ridge regression on more would take gigabytes
TOKENS = {"clip": "the whole clip encoded at once", "step": "each time step encoded on its own"}


def evaluate_clips(cfg: RunConfig, trained: Method, random_method: Method, data: VideoData, *,
                   device: torch.device, artifacts: dict | None = None) -> dict:
    """The video evaluation of a trained method beside its random init; returns the results dict. ``artifacts``:
    where to keep the attentive probe of the trained encoder's tokens (seed 0) as ``probe``."""
    started = time.perf_counter()
    ev = cfg.eval
    train, test = data.train, data.test
    if not len(test):
        raise DataError(f"{data.name}: evaluation needs a labelled test split")
    label = ev.label or train.primary
    if label not in train.labels:
        raise DataError(f"{data.name} has no label '{label}'; it has {', '.join(sorted(train.labels))}")
    limit = ev.max_train
    n_train = len(train) if limit is None else min(limit, len(train))
    train_symmetries = symmetries(ev.probe_flips)
    y_train = torch.stack([flipped_labels(train, label, s)[:n_train] for s in train_symmetries], 1)  # (N, V)
    y_test = test.labels[label]
    test_views = test.views(ev.test_clips) if hasattr(test, "views") else [test]  # one clip per built-in video
    bf16 = uses_bf16(cfg.train.precision, device)
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
        if name == "trained" and artifacts is not None:
            artifacts["probe"] = probe_artifact(
                "attentive", {"mean": probes[0]["mean"], "std": probes[0]["std"],
                              **{f"head.{k}": v for k, v in probes[0]["model"].state_dict().items()}},
                train.classes[label], encoder, encoder=ev.encoder, label=label, tokens=ev.tokens,
                heads=probe_cfg.heads, self_attention_layers=probe_cfg.self_attention_layers)
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


@EVAL_TASKS.register("video_probes")
class VideoProbes(EvalTask):
    name = "video_probes"

    def run(self, ctx: EvalContext) -> dict[str, Any]:
        return evaluate_clips(ctx.cfg, ctx.trained, ctx.random_init, ctx.data, device=ctx.device,
                              artifacts=ctx.artifacts)

    def table(self, results: dict[str, Any]) -> str:
        meta = results.get("meta", {})
        lines = [f"{meta.get('dataset', '?')}: {meta.get('train_clips', '?')} train / {meta.get('test_clips', '?')} "
                 f"test clips; label '{meta.get('label', '?')}' ({meta.get('classes', '?')} classes)"
                 + (f"; the probe trains on {meta['probe_views_per_clip']} flips of each clip"
                    if meta.get("probe_views_per_clip", 1) > 1 else "")
                 + ("; each time step encoded on its own" if meta.get("tokens") == "step" else ""),
                 f"{'':34}{'attentive probe':>18}{'dense R^2':>12}{'motion R^2':>12}"]
        for key, title in (("trained", "trained encoder"), ("random_init", "same arch., random init"),
                           ("single_frame", "trained, first frame held still")):
            dense = [results.get(probe, {}).get(key) for probe in ("dense", "dense_motion")]
            lines.append(f"{row_title(key, title, meta):34}{results['attentive'][key]:>18.3f}"
                         + "".join(f"{'':>12}" if value is None else f"{value:>12.3f}" for value in dense).rstrip())
        return "\n".join(lines)
