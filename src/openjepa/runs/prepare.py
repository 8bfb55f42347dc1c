"""Starting a run: its data read by its modality, the input spec and normalisation measured, and the weights it
starts from when it builds on another run (``init``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openjepa.core.errors import DataError, TrainingError
from openjepa.core.protocols import Method
from openjepa.core.spec import InputSpec
from openjepa.interop.hf_ijepa import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    hf_input_spec,
    hf_normalisation,
    is_hf_ijepa_folder,
    load_hf_ijepa,
)
from openjepa.interop.hf_vjepa2 import hf_vjepa2_input_spec, is_hf_vjepa2_folder, load_hf_vjepa2
from openjepa.methods.registry import METHODS
from openjepa.modalities.registry import MODALITIES
from openjepa.nn.pyramid import backbone_of
from openjepa.runs.build import load_trained_method
from openjepa.runs.config import RunConfig

Init = Callable[[Method], None]


def prepare_run(cfg: RunConfig, data: Any = None, *, resume: bool = False) -> tuple[Any, Init | None]:
    """Load the run's data (unless given), fill in ``cfg.spec`` and the normalisation, take what ``cfg.init`` names
    from the other run; returns the data and a function that loads the other run's weights into the freshly built
    method (None when there are none, and on resume, where the checkpoint holds them)."""
    modality = MODALITIES.get(cfg.data.modality)()
    if METHODS.get(cfg.method.name).freezes_encoder(cfg.method) and not cfg.init.run and not resume:
        raise TrainingError(f"{cfg.method.name} trains on the frozen encoder of another run: pass --encoder RUN "
                            f"(an openjepa run, e.g. lewm_tworoom_tiny or I-JEPA on images of the data's size, or "
                            f"an HF I-JEPA or V-JEPA 2 folder)")
    data = data if data is not None else modality.load(cfg.data)
    if len(data.train) < cfg.train.batch_size:
        raise DataError(f"{data.name}: {len(data.train)} training samples, fewer than one batch of "
                        f"{cfg.train.batch_size}; lower train.batch_size or give more data")
    spec = modality.spec(data)
    if resume and spec != cfg.spec:
        raise TrainingError(f"the data's shape changed since the run started: now {spec}, then {cfg.spec}")
    init = _take_from_run(cfg, spec) if cfg.init.run and not resume else None
    if not resume:
        init = _take_frozen_sources(cfg, spec, init)
    fill_spec(cfg, data, spec)
    return data, init


def fill_spec(cfg: RunConfig, data: Any, spec: InputSpec | None = None) -> RunConfig:
    """``cfg`` with the data's input spec and (unless set) normalisation, what a run records when it starts:
    enough to build the method without starting a run."""
    cfg.spec = spec or MODALITIES.get(cfg.data.modality)().spec(data)
    if cfg.data.mean is None or cfg.data.std is None:
        cfg.data.mean, cfg.data.std = data.channel_stats()
    return cfg


@dataclass
class SourceEncoder:
    """Another run's (or HF folder's) encoder: its ViT settings, input spec, normalisation and weights."""

    config: Any
    spec: InputSpec
    normalisation: tuple[list[float], list[float]]
    weights: dict


def _take_from_run(cfg: RunConfig, spec: Any) -> Init:
    """Copy what ``cfg.init.what`` names of the run at ``cfg.init.run`` into ``cfg``; returns the weight loader."""
    source = _existing(cfg.init.run, "--encoder")
    if cfg.init.what == "all":
        if is_hf_ijepa_folder(source) or is_hf_vjepa2_folder(source):
            raise TrainingError(f"--encoder {source} is an HF folder: it gives an encoder only (init.what: encoder)")
        source_cfg, source_method = load_trained_method(source)
        if source_cfg.spec != spec:
            raise TrainingError(f"{source} was trained on inputs {source_cfg.spec}; these data give {spec}")
        weights = source_method.state_dict()
        return lambda method: method.load_state_dict(weights)
    encoder = source_encoder(source, spec, "--encoder")
    cfg.encoder, cfg.encoder_spec = encoder.config, encoder.spec
    cfg.data.mean, cfg.data.std = encoder.normalisation
    return lambda method: method.encoder.load_state_dict(encoder.weights)


def _take_frozen_sources(cfg: RunConfig, spec: InputSpec, init: Init | None) -> Init | None:
    """Load the encoders of the other runs the method reads frozen (:meth:`Method.frozen_sources`), record their
    settings in ``cfg.method``; returns ``init`` extended by the loaders of their weights."""
    method_cls = METHODS.get(cfg.method.name)
    loaders = [init] if init else []
    for name, path in method_cls.frozen_sources(cfg.method).items():
        encoder = source_encoder(_existing(path, f"method.{name}"), spec, f"method.{name}")
        method_cls.take_frozen(cfg.method, name, encoder.config, encoder.spec, encoder.normalisation)
        loaders.append(lambda method, name=name, weights=encoder.weights: method.frozen_source(name).load_state_dict(
            weights))
    if not loaders:
        return None

    def load_all(method: Method) -> None:
        for load in loaders:
            load(method)

    return load_all


def _existing(path: str, what: str) -> Path:
    source = Path(path).expanduser()
    if not source.is_dir():
        raise TrainingError(f"{what} {path}: no such run folder")
    return source


def source_encoder(source: Path, spec: InputSpec, what: str) -> SourceEncoder:
    """The encoder of an openjepa run (the one its evaluation reads) or of an HF I-JEPA / V-JEPA 2 folder (its
    normalisation from ``preprocessor_config.json``, else ImageNet's for RGB), checked to read the data's frames."""
    if is_hf_ijepa_folder(source) or is_hf_vjepa2_folder(source):
        if is_hf_ijepa_folder(source):
            vit = load_hf_ijepa(source)
            encoder_spec = hf_input_spec(vit)
        else:
            vit = load_hf_vjepa2(source)[0]
            encoder_spec = hf_vjepa2_input_spec(vit)
        mean, std = hf_normalisation(source)
        if mean is None or std is None:
            if vit.in_chans != 3:
                raise TrainingError(f"{source} has no preprocessor_config.json (image_mean, image_std) and is not "
                                    f"RGB: its normalisation is unknown")
            mean, std = IMAGENET_MEAN, IMAGENET_STD
        encoder = SourceEncoder(vit.config, encoder_spec, (list(mean), list(std)), vit.state_dict())
    else:
        source_cfg, source_method = load_trained_method(source)
        weights = backbone_of(source_method.eval_encoder(source_cfg.eval.encoder)).state_dict()
        encoder = SourceEncoder(source_cfg.encoder, source_cfg.encoder_spec or source_cfg.spec,
                                (source_cfg.data.mean, source_cfg.data.std), weights)
    if (encoder.spec.channels, tuple(encoder.spec.size)) != (spec.channels, tuple(spec.size)):
        raise TrainingError(f"{what} {source} reads {encoder.spec.channels}-channel "
                            f"{encoder.spec.size[1]}x{encoder.spec.size[0]} images but the data holds "
                            f"{spec.channels}-channel {spec.size[1]}x{spec.size[0]} frames; pick an encoder trained "
                            f"at the data's frame size")
    return encoder
