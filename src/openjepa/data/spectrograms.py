"""Waveforms -> log-mel spectrogram images, and the MFCC baseline read from them.

A clip's log-mel spectrogram (:class:`~openjepa.data.melspec.LogMel`, power in dB) is taken relative to its own
loudest bin and kept over ``db_range`` dB below it (librosa's ``power_to_db(ref=np.max, top_db=80)``), then stored
as one uint8 channel, ``(1, n_mels, frames)`` with low frequencies in row 0: 255 is the loudest bin, 0 is
``db_range`` dB below it, one step ``db_range / 255`` dB (0.31 dB at 80). The audio modality trains, evaluates
and embeds on these images, so everything that reads images (the probes, the normalisation, the loaders) reads
them as they are.
"""

from __future__ import annotations

import math

import torch

from openjepa.data.images import ImageData, ImageSet
from openjepa.data.melspec import LogMel
from openjepa.data.sounds import AudioData, AudioSet


def front_end(settings: dict) -> LogMel:
    """The log-mel front end of the reader ``settings`` (the audio data config's front-end fields)."""
    return LogMel(settings["sample_rate"], settings["n_fft"], settings["win_length"], settings["hop_length"],
                  settings["n_mels"], settings["fmin"], settings["fmax"], log="db", eps=1e-10, top_db=None,
                  frames=settings["frames"])


@torch.no_grad()
def spectrogram_images(waves: torch.Tensor, mel: LogMel, db_range: float = 80.0, chunk: int = 256) -> torch.Tensor:
    """Waveforms ``(N, samples)`` -> uint8 ``(N, 1, n_mels, frames)`` (see the module)."""
    out = []
    for part in waves.split(chunk):
        db = mel(part.float())  # (n, n_mels, frames)
        db = db - db.amax(dim=(1, 2), keepdim=True)
        out.append((db.add(db_range).clamp_(0, db_range) * (255 / db_range)).round_().to(torch.uint8)[:, None])
    return torch.cat(out) if out else torch.zeros(0, 1, mel.n_mels, mel.num_frames(waves.shape[-1]),
                                                  dtype=torch.uint8)


def spectrogram_data(audio: AudioData, mel: LogMel, db_range: float = 80.0) -> ImageData:
    """Both splits of ``audio`` as spectrogram images (labels and classes kept)."""

    def split(s: AudioSet) -> ImageSet:
        return ImageSet(spectrogram_images(s.waves, mel, db_range), s.labels, s.classes)

    return ImageData(audio.name, split(audio.train), split(audio.test))


def dct_matrix(n_in: int, n_out: int) -> torch.Tensor:
    """The orthonormal DCT-II as ``(n_out, n_in)``: row k is ``cos(pi k (2m + 1) / (2 n_in))`` scaled."""
    m = torch.arange(n_in, dtype=torch.float64)
    k = torch.arange(n_out, dtype=torch.float64)[:, None]
    basis = torch.cos(math.pi * k * (2 * m + 1) / (2 * n_in)) * math.sqrt(2 / n_in)
    basis[0] /= math.sqrt(2)
    return basis.float()


def mfcc_features(images: torch.Tensor, n_mfcc: int = 20) -> torch.Tensor:
    """The MFCC baseline: spectrogram images ``(N, 1, n_mels, frames)`` -> ``(N, 2 n_mfcc)``, the mean and the
    standard deviation over time of the first ``n_mfcc`` cepstral coefficients (DCT-II of the log-mel; the pixel
    values are dB up to one factor, which the probes' standardisation removes)."""
    db = images[:, 0].float()  # (N, n_mels, frames)
    cepstra = torch.einsum("km,nmt->nkt", dct_matrix(db.shape[1], min(n_mfcc, db.shape[1])), db)
    return torch.cat([cepstra.mean(-1), cepstra.std(-1)], dim=1)
