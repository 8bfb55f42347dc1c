"""Probes of sound runs: linear, kNN and low-shot on mean-pooled features of the trained encoder, its random init,
the raw log-mel spectrogram and MFCC statistics, on the test split; pictures of the spectrograms' PCA maps and of
the masks training draws on them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from openjepa.data.spectrograms import mfcc_features
from openjepa.eval.registry import EVAL_TASKS
from openjepa.eval.task import EvalContext
from openjepa.eval.tasks.image_probes import FEATURES, ImageProbes, one_per_class
from openjepa.masks.multiblock import masks_of_row
from openjepa.viz.masked_spectrogram import save_masked_spectrograms

N_MFCC = 20


@EVAL_TASKS.register("audio_probes")
class AudioProbes(ImageProbes):
    name = "audio_probes"
    samples_are = "clips"
    labelled_files = "PATH/<class>/*.wav"
    rows = (("trained", "trained encoder"), ("random_init", "same arch., random init"),
            ("raw_input", "raw log-mel"), ("mfcc", f"MFCC ({N_MFCC}) mean+std"))

    def input_features(self, train: Any, test: Any) -> dict[str, list[torch.Tensor]]:
        return {**super().input_features(train, test),
                "mfcc": [mfcc_features(s.images, N_MFCC) for s in (train, test)]}

    def run(self, ctx: EvalContext) -> dict[str, Any]:
        results = super().run(ctx)
        results["meta"]["features"] = (f"{FEATURES}; raw log-mel: the spectrogram "
                                       f"image; MFCC: mean and std over time of {N_MFCC} coefficients")
        return results

    def pictures(self, ctx: EvalContext) -> list[Path]:
        """``plots/pca.png`` and ``plots/masked_spectrogram.png``: four test clips with one draw of training's
        masks (when the method draws masks in the loader)."""
        written = super().pictures(ctx)
        extras = ctx.trained.sample_extras()
        if extras is None:
            return written
        test = ctx.data.test
        picks = one_per_class(test.labels, test.classes, 4)
        drawn = extras(0, 0, picks)
        masks = [(m.context, np.unique(np.concatenate(m.targets))) for m in
                 (masks_of_row(drawn, row) for row in range(len(picks)))]
        patch = ctx.trained.eval_encoder(ctx.cfg.eval.encoder).patch_embed.patch_size
        return [*written, save_masked_spectrograms(test.images[picks], masks, patch,
                                                   ctx.run_dir / "plots" / "masked_spectrogram.png",
                                                   seconds=ctx.cfg.data.seconds,
                                                   titles=[test.classes[int(test.labels[i])] for i in picks])]
