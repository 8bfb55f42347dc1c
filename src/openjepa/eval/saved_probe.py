"""The probe ``openjepa eval`` fits on the trained encoder's features, kept beside the results
(``eval.json`` -> ``eval.probe.safetensors``) so that ``openjepa classify`` can apply it to new inputs: the linear
head on mean-pooled features (image runs) or the attentive probe on token features (video runs, seed 0).

Tensors: ``mean`` and ``std`` ``(D,)``, the standardisation the probe reads its features through, and the
head's: ``weight (K, D)`` and ``bias (K,)`` (linear), or ``head.*``, the :class:`AttentiveClassifier`'s state.
Metadata (strings): ``kind`` (``linear`` | ``attentive``), ``classes`` (JSON list of K names), ``label`` (which
label of the data), ``encoder`` (``target`` | ``context``), ``tokens`` (``clip`` | ``step``), ``digest`` (of the
probed encoder's weights, so that a probe is never applied to another encoder), and an attentive probe's
``heads`` and ``self_attention_layers``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open

from openjepa.core.errors import CheckpointError
from openjepa.eval.attentive import AttentiveClassifier


def encoder_digest(encoder: torch.nn.Module) -> str:
    """sha256 of an encoder's weights (names, dtypes, shapes and bytes), 16 hex digits."""
    digest = hashlib.sha256()
    for name, value in sorted(encoder.state_dict().items()):
        value = value.detach().cpu().contiguous()
        digest.update(f"{name}:{value.dtype}:{tuple(value.shape)}".encode())
        digest.update(value.view(torch.uint8).numpy().tobytes() if value.numel() else b"")
    return digest.hexdigest()[:16]


def probe_artifact(kind: str, tensors: dict[str, torch.Tensor], classes: list[str], probed: torch.nn.Module,
                   **facts: object) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """``(tensors, metadata)`` of a probe fitted on the features of the encoder ``probed``, for
    ``EvalContext.artifacts["probe"]``."""
    meta = {"kind": kind, "classes": json.dumps(list(classes)), "digest": encoder_digest(probed)}
    return tensors, {**meta, **{key: str(value) for key, value in facts.items()}}


@dataclass
class SavedProbe:
    """A probe read back from its file; :meth:`probabilities` applies it."""

    tensors: dict[str, torch.Tensor]
    meta: dict[str, str]

    @classmethod
    def read(cls, path: Path) -> SavedProbe:
        try:
            with safe_open(path, "pt") as f:
                probe = cls({key: f.get_tensor(key) for key in f.keys()}, f.metadata() or {})
        except (OSError, SafetensorError) as err:
            raise CheckpointError(f"cannot read the probe {path}: {err}") from None
        if not {"kind", "classes", "encoder", "digest"} <= set(probe.meta) or not {"mean", "std"} <= set(probe.tensors):
            raise CheckpointError(f"{path} is not a probe saved by `openjepa eval`")
        return probe

    @property
    def classes(self) -> list[str]:
        return json.loads(self.meta["classes"])

    @property
    def pooled(self) -> bool:
        """Whether the probe reads mean-pooled features ``(N, D)`` (else tokens ``(N, L, D)``)."""
        return self.meta["kind"] == "linear"

    @torch.no_grad()
    def probabilities(self, features: torch.Tensor) -> torch.Tensor:
        """Class probabilities ``(N, K)`` of features ``(N, D)`` (linear) or tokens ``(N, L, D)`` (attentive)."""
        x = (features.float() - self.tensors["mean"]) / self.tensors["std"]
        if self.pooled:
            return (x @ self.tensors["weight"].T + self.tensors["bias"]).softmax(1)
        state = {key.removeprefix("head."): value for key, value in self.tensors.items() if key.startswith("head.")}
        model = AttentiveClassifier(x.shape[-1], len(state["head.bias"]), int(self.meta["heads"]),
                                    int(self.meta["self_attention_layers"]))
        model.load_state_dict(state)
        return torch.cat([model.eval()(chunk).softmax(1) for chunk in x.split(512)])
