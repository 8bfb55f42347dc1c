"""Audio: sound files -> log-mel spectrogram images ``(1, n_mels, frames)`` (uint8, see
:mod:`openjepa.data.spectrograms`), 2-D time-frequency patch tokens, and probes beside the raw log-mel and MFCC
features."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import torch

from openjepa.core.config import check_minimums
from openjepa.core.errors import ConfigError, DataError
from openjepa.core.spec import InputSpec
from openjepa.data.audio_io import AUDIO_SUFFIXES, load_audio
from openjepa.data.images import ImageData
from openjepa.data.sound_folder import load_sound_folder
from openjepa.data.sounds import AudioData
from openjepa.data.spectrograms import front_end, spectrogram_data, spectrogram_images
from openjepa.modalities.base import Modality
from openjepa.modalities.image import ImageEvalConfig
from openjepa.modalities.patches import PatchEmbed2d
from openjepa.modalities.registry import MODALITIES
from openjepa.nn.vit import ViT, ViTConfig

# the data settings that say how a file becomes a spectrogram: a run keeps them in its input spec
READER_KEYS = ("sample_rate", "seconds", "n_fft", "win_length", "hop_length", "n_mels", "fmin", "fmax", "frames",
               "db_range")


@dataclass
class AudioDataConfig:
    """Where sounds come from and how they become spectrograms.

    ``dataset``: a built-in sound dataset (``spoken_words``) or a folder of class folders of ``*.wav|flac|ogg``
    (optionally under ``train/`` and ``test/``, or ModelNet-style ``<class>/train/``). Every file is made mono,
    resampled to ``sample_rate`` and cut (centred) or zero-padded to ``seconds``. Front end: a Hann-windowed STFT
    (``n_fft``, ``win_length``, ``hop_length`` in samples), ``n_mels`` Slaney mel bands over ``fmin``-``fmax`` Hz
    (default 0 to Nyquist), power in dB relative to the clip's loudest bin, kept over ``db_range`` dB; ``frames``:
    the time frames kept (None: all). ``test_fraction``/``split_seed``: the stratified split of a folder without
    one; ``skip_corrupt``: skip unreadable, empty or silent files (with a warning) instead of stopping.
    ``mean``/``std``: the spectrogram's normalisation, measured on the training split when a run starts.
    """

    modality: Literal["audio"] = "audio"
    dataset: str = "spoken_words"
    sample_rate: int = 16000
    seconds: float = 1.0
    n_fft: int = 512
    win_length: int = 400
    hop_length: int = 250
    n_mels: int = 64
    fmin: float = 0.0
    fmax: float | None = None
    frames: int | None = 64
    db_range: float = 80.0
    test_fraction: float = 0.2
    split_seed: int = 0
    skip_corrupt: bool = False
    mean: list[float] | None = None
    std: list[float] | None = None

    def validate(self) -> None:
        check_minimums("data", self, sample_rate=1, n_fft=1, win_length=1, hop_length=1, n_mels=1, frames=1)
        if self.seconds <= 0 or self.db_range <= 0:
            raise ValueError(f"data.seconds and data.db_range must be > 0, got {self.seconds} and {self.db_range}")
        if self.win_length > self.n_fft:
            raise ValueError(f"data.win_length {self.win_length} is longer than data.n_fft {self.n_fft}")
        nyquist = self.sample_rate / 2
        if not 0 <= self.fmin < (self.fmax or nyquist) <= nyquist:
            raise ValueError(f"data.fmin and data.fmax must satisfy 0 <= fmin < fmax <= {nyquist:g} (half the sample "
                             f"rate), got {self.fmin} and {self.fmax}")
        if not 0 <= self.test_fraction < 1:
            raise ValueError(f"data.test_fraction must be in [0, 1), got {self.test_fraction}")

    def reader(self) -> dict:
        return {key: getattr(self, key) for key in READER_KEYS}

    @property
    def samples(self) -> int:
        return round(self.seconds * self.sample_rate)


@dataclass
class SpectrogramData(ImageData):
    """Spectrogram images of both splits, and the reader settings that made them."""

    reader: dict | None = None


@MODALITIES.register("audio")
class AudioModality(Modality):
    name = "audio"
    data_config = AudioDataConfig
    eval_config = ImageEvalConfig
    eval_tasks = ("audio_probes",)
    file_suffixes = AUDIO_SUFFIXES

    def load(self, cfg: AudioDataConfig, spec: InputSpec | None = None) -> SpectrogramData:
        """Both splits as spectrogram images, made with ``spec``'s front end when given (a trained run's)."""
        if spec is not None:
            cfg = replace(cfg, **spec.reader)
        audio = self.builtin(cfg)
        if audio is None:
            root = self.data_folder(cfg, f"class folders of {'|'.join(sorted(AUDIO_SUFFIXES))} files")
            audio = load_sound_folder(root, sample_rate=cfg.sample_rate, samples=cfg.samples,
                                      test_fraction=cfg.test_fraction, seed=cfg.split_seed,
                                      skip_corrupt=cfg.skip_corrupt)
        return _spectrograms(audio, cfg)

    def spec(self, data: SpectrogramData) -> InputSpec:
        return InputSpec(modality=self.name, channels=1, size=tuple(data.image_size), reader=dict(data.reader))

    def build_encoder(self, config: ViTConfig, spec: InputSpec) -> ViT:
        if config.tubelet is not None:
            raise ConfigError("encoder.tubelet is set, but audio runs cut spectrograms into 2-D patches: remove it")
        mels, frames = spec.size
        if mels % config.patch_size or frames % config.patch_size:
            raise ConfigError(f"spectrograms of {mels} mel bands x {frames} frames do not split into "
                              f"{config.patch_size}x{config.patch_size} patches; set data.n_mels and data.frames to "
                              f"multiples of encoder.patch_size")
        return ViT(config, PatchEmbed2d(1, config.resolved()[0], config.patch_size), (mels, frames))

    def read_files(self, paths: list[str | Path], spec: InputSpec) -> torch.Tensor:
        """Sound files -> uint8 spectrogram images ``(N, 1, n_mels, frames)`` made as the run's data were."""
        if not paths:
            raise DataError("no sound files given to embed")
        cfg = AudioDataConfig(**spec.reader)
        waves = torch.stack([load_audio(p, cfg.sample_rate, cfg.samples) for p in paths])
        return spectrogram_images(waves, front_end(cfg.reader()), cfg.db_range)


def _spectrograms(audio: AudioData, cfg: AudioDataConfig) -> SpectrogramData:
    if audio.sample_rate != cfg.sample_rate or audio.samples != cfg.samples:
        raise DataError(f"{audio.name} holds {audio.samples} samples at {audio.sample_rate} Hz; the data settings "
                        f"ask for {cfg.samples} at {cfg.sample_rate} Hz")
    data = spectrogram_data(audio, front_end(cfg.reader()), cfg.db_range)
    return SpectrogramData(data.name, data.train, data.test, cfg.reader())

