"""Reading ``config.yaml`` of runs written before layout version 2.

Version 1 kept the data's facts in the data and method sections (``data.image_size``, ``data.frames``, a top-level
``channels``, ``method.action_dim``, ``state_dim``, ``encoder_frames``), a frozen encoder's run under
``method.encoder_run``, planning settings at the top level, and every evaluation setting of every kind of input.
Version 2 keeps the facts in ``spec`` (and ``encoder_spec``), the encoder's run under ``init``, planning in the
world-model method's section, and each modality's own evaluation settings. The kind of input follows from the
old facts: a method with an action size read trajectories, a run with a clip length read video, others images.
"""

from __future__ import annotations

import copy

from openjepa.modalities.registry import MODALITIES

_V1_DATA = {"dataset", "image_size", "test_fraction", "split_seed", "skip_corrupt", "frames", "frame_step", "fps",
            "train_size", "mean", "std"}


def migrate(raw: dict) -> dict:
    """A version-2 mapping of a saved config of any version (version 2 passes through unchanged)."""
    if raw.get("version", 1) >= 2:
        return raw
    raw = copy.deepcopy(raw)
    method, data = raw.get("method", {}), raw.get("data", {})
    size, frames, channels = data.get("image_size"), data.get("frames"), raw.pop("channels", None)
    kind = "trajectory" if "action_dim" in method else "video" if frames is not None else "image"
    spec = {"modality": kind, "channels": channels, "size": [size, size], "frames": frames,
            "action_dim": method.pop("action_dim", None), "state_dim": method.pop("state_dim", None)}
    encoder_frames, encoder_run = method.pop("encoder_frames", None), method.pop("encoder_run", None)
    if encoder_run:
        raw["init"] = {"run": encoder_run, "what": "encoder"}
        raw["encoder_spec"] = {"modality": "video" if encoder_frames else "image", "channels": channels,
                               "size": [size, size], "frames": encoder_frames}
    plan = raw.pop("plan", None)
    if kind == "trajectory" and plan is not None:
        method["plan"] = plan
    kept = set(MODALITIES.get(kind).data_config.__dataclass_fields__)
    raw["data"] = {"modality": kind, **{k: v for k, v in data.items() if k in kept and k in _V1_DATA}}
    if kind == "image":
        raw["data"].pop("image_size", None)  # version 1 wrote the measured size there; a user's own resize is lost
    eval_fields = set(MODALITIES.get(kind).eval_config.__dataclass_fields__)
    raw["eval"] = {k: v for k, v in (raw.get("eval") or {}).items() if k in eval_fields}
    raw["spec"], raw["version"] = spec, 2
    return raw
