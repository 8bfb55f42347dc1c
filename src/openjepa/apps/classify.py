"""``openjepa classify``: the class of image or video files by the head that came with the model."""

from __future__ import annotations

from pathlib import Path

import torch

from openjepa.api import embed, load
from openjepa.core.errors import CheckpointError, ConfigError, TrainingError, WeightsError
from openjepa.eval.evaluate import artifact_path
from openjepa.eval.saved_probe import SavedProbe, encoder_digest
from openjepa.interop.hf_ijepa import is_hf_ijepa_folder, load_hf_ijepa_classifier
from openjepa.interop.hf_vjepa2 import is_hf_vjepa2_folder
from openjepa.runs.files import is_run


def classify(model: str | Path, inputs: list[str | Path], *, probe: str | Path | None = None,
             batch_size: int = 256) -> list[tuple[str, float]]:
    """The most probable class of each image or video file and its probability, ``[(class, probability), ...]``.

    An openjepa run classifies with the probe ``openjepa eval`` fitted on its encoder and saved beside
    ``eval.json`` (``RUN/eval.probe.safetensors``, or ``probe``: the one of another evaluation): the linear probe
    on mean-pooled features of image runs, the attentive probe on the tokens of the centred clip of video runs.
    An HF ``IJepaForImageClassification`` folder classifies with its own head on mean-pooled tokens, as its
    ``forward`` does. Folders without a head are refused.
    """
    path = Path(model)
    if is_hf_ijepa_folder(path) or is_hf_vjepa2_folder(path):
        if probe is not None:
            raise ConfigError(f"a probe is for openjepa runs; {path} is an HF folder, which classifies with its head")
        head = load_hf_ijepa_classifier(path) if is_hf_ijepa_folder(path) else None
        if head is None:
            raise WeightsError(f"{path} is an HF encoder without a classification head; classify needs an "
                               f"IJepaForImageClassification folder (classifier.weight) or an evaluated openjepa run")
        weight, bias, classes = head
        features = torch.from_numpy(embed(load(path), inputs, batch_size=batch_size))
        probs = (features @ weight.float().T + bias.float()).softmax(1)
    elif is_run(path):
        saved = _read_probe(path, Path(probe) if probe is not None else artifact_path(path / "eval.json", "probe"))
        vit = load(path, encoder=saved.meta["encoder"])
        if encoder_digest(vit) != saved.meta["digest"]:
            raise WeightsError(f"the probe was fitted on other weights than {path}'s latest checkpoint (did the run "
                               f"train on after its evaluation?); run `openjepa eval {path}` again")
        features = embed(vit, inputs, tokens=not saved.pooled, per_step=saved.meta.get("tokens") == "step",
                         batch_size=batch_size)
        probs, classes = saved.probabilities(torch.from_numpy(features)), saved.classes
    else:
        raise TrainingError(f"{path} is neither an openjepa run (config.yaml) nor an HF I-JEPA folder (config.json "
                            f"with model_type 'ijepa')")
    best, index = probs.max(1)
    return [(classes[int(i)], float(p)) for p, i in zip(best, index)]


def _read_probe(run: Path, path: Path) -> SavedProbe:
    """The probe at ``path``; refused with what to run when it is missing."""
    if not path.is_file():
        raise CheckpointError(f"{run} has no saved probe ({path} not found): run `openjepa eval {run}` first, which "
                              f"fits and saves the probe of an image or video run")
    return SavedProbe.read(path)
