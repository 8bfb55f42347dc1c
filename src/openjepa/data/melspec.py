"""Log-mel spectrograms in torch: waveform ``(samples,)`` -> ``(n_mels, frames)``.

STFT (``torch.stft``, periodic Hann window of ``win_length`` centred in ``n_fft``, frames centred on multiples of
``hop_length`` with the signal zero-padded by ``n_fft // 2`` at both ends), power ``|X|^power``, a triangular mel
filterbank between ``fmin`` and ``fmax`` (Slaney's mel scale and area normalisation, or HTK's scale with peak-1
triangles), then a logarithm: ``ln(max(x, eps))`` (Kaldi fbank's, which Audio-JEPA and AudioMAE feed their ViTs) or
decibels ``10 log10(max(x, eps))`` floored at ``top_db`` below the clip's maximum. These are librosa's formulas
(``melspectrogram`` + ``power_to_db``); the tests check them against a NumPy reference.

Audio-JEPA's published front end is Kaldi's fbank (32 kHz, 128 mels, hop 10 s / 256 frames, Hann window 2.5 hops,
fmin 20 Hz, natural log). Kaldi also removes each frame's mean, pre-emphasises (0.97), zero-pads the window to a
power of two, does not centre frames, and draws its triangles linear on the mel axis; :class:`LogMel` does none of
these, so its numbers differ from Kaldi's at equal settings, though they have the same layout and scale.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import nn

MelScale = Literal["slaney", "htk"]


def hz_to_mel(hz: torch.Tensor, scale: MelScale = "slaney") -> torch.Tensor:
    """HTK: ``2595 log10(1 + f / 700)``; Slaney: linear ``3 f / 200`` below 1 kHz, logarithmic above."""
    if scale == "htk":
        return 2595.0 * torch.log10(1.0 + hz / 700.0)
    linear = hz / (200.0 / 3)
    log = 15.0 + torch.log(hz.clamp_min(1e-10) / 1000.0) / (math.log(6.4) / 27.0)
    return torch.where(hz >= 1000.0, log, linear)


def mel_to_hz(mel: torch.Tensor, scale: MelScale = "slaney") -> torch.Tensor:
    """The inverse of :func:`hz_to_mel`."""
    if scale == "htk":
        return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)
    linear = mel * (200.0 / 3)
    log = 1000.0 * torch.exp((mel - 15.0) * (math.log(6.4) / 27.0))
    return torch.where(mel >= 15.0, log, linear)


def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, fmin: float = 0.0, fmax: float | None = None,
                   scale: MelScale = "slaney", norm: bool = True) -> torch.Tensor:
    """float64 ``(n_mels, n_fft // 2 + 1)``: triangles whose corners are ``n_mels + 2`` points evenly spaced on
    the mel scale from ``fmin`` to ``fmax`` (default: Nyquist), linear in Hz between them; ``norm`` scales each
    to unit area per Hz (``2 / (upper - lower)``, Slaney), otherwise each peaks at 1."""
    fmax = sample_rate / 2 if fmax is None else fmax
    if not 0 <= fmin < fmax <= sample_rate / 2:
        raise ValueError(f"need 0 <= fmin < fmax <= sample_rate / 2, got fmin={fmin}, fmax={fmax}, "
                         f"sample_rate={sample_rate}")
    freqs = torch.linspace(0, sample_rate / 2, n_fft // 2 + 1, dtype=torch.float64)
    lo, hi = hz_to_mel(torch.tensor([float(fmin), float(fmax)], dtype=torch.float64), scale)
    corners = mel_to_hz(torch.linspace(float(lo), float(hi), n_mels + 2, dtype=torch.float64), scale)
    gaps = corners.diff()  # (n_mels + 1,)
    ramps = corners[:, None] - freqs[None, :]  # (n_mels + 2, bins)
    rising = -ramps[:-2] / gaps[:-1, None]
    falling = ramps[2:] / gaps[1:, None]
    weights = torch.minimum(rising, falling).clamp_min(0.0)
    if norm:
        weights = weights * (2.0 / (corners[2:] - corners[:-2]))[:, None]
    return weights


class LogMel(nn.Module):
    """Frozen log-mel front end: float ``(samples,)`` or ``(B, samples)`` -> ``(n_mels, frames)`` or
    ``(B, n_mels, frames)``, ``frames = 1 + samples // hop_length`` (centred frames), or exactly ``frames``
    when set (the waveform cut at the end, or zero-padded there).

    Settings: ``sample_rate`` (Hz), ``n_fft``, ``win_length`` (default ``n_fft``) and ``hop_length`` (samples),
    ``n_mels``, ``fmin`` / ``fmax`` (Hz, default 0 and Nyquist), ``mel_scale`` ``slaney`` | ``htk``, ``norm``
    (Slaney area normalisation), ``power`` (2: energy, 1: magnitude), ``log`` ``ln`` | ``db`` with floor ``eps``
    (and ``top_db`` for ``db``). The window and filterbank are float64 buffers (not saved), nothing learns; it
    computes in float64 for a float64 waveform, else in float32.
    """

    def __init__(self, sample_rate: int = 16000, n_fft: int = 400, win_length: int | None = None,
                 hop_length: int = 160, n_mels: int = 64, fmin: float = 0.0, fmax: float | None = None, *,
                 mel_scale: MelScale = "slaney", norm: bool = True, power: float = 2.0,
                 log: Literal["ln", "db"] = "ln", eps: float = 1e-6, top_db: float | None = 80.0,
                 frames: int | None = None):
        super().__init__()
        win_length = n_fft if win_length is None else win_length
        if not 0 < win_length <= n_fft or hop_length < 1 or n_mels < 1 or eps <= 0:
            raise ValueError(f"need 0 < win_length <= n_fft, hop_length >= 1, n_mels >= 1 and eps > 0, got "
                             f"win_length={win_length}, n_fft={n_fft}, hop_length={hop_length}, n_mels={n_mels}, "
                             f"eps={eps}")
        if mel_scale not in ("slaney", "htk") or log not in ("ln", "db"):
            raise ValueError(f"mel_scale must be 'slaney' or 'htk' and log 'ln' or 'db', got {mel_scale!r}, {log!r}")
        if frames is not None and frames < 1:
            raise ValueError(f"frames must be >= 1, got {frames}")
        self.sample_rate, self.n_fft, self.win_length, self.hop_length = sample_rate, n_fft, win_length, hop_length
        self.n_mels, self.fmin, self.fmax = n_mels, float(fmin), float(sample_rate / 2 if fmax is None else fmax)
        self.mel_scale, self.norm, self.power, self.log = mel_scale, norm, power, log
        self.eps, self.top_db, self.frames = eps, top_db, frames
        self.register_buffer("window", torch.hann_window(win_length, periodic=True, dtype=torch.float64),
                             persistent=False)
        fb = mel_filterbank(sample_rate, n_fft, n_mels, fmin, self.fmax, mel_scale, norm)
        self.register_buffer("filterbank", fb, persistent=False)
        self.requires_grad_(False)

    def settings(self) -> dict:
        """The constructor's arguments, for a config or a report."""
        return {k: getattr(self, k) for k in ("sample_rate", "n_fft", "win_length", "hop_length", "n_mels", "fmin",
                                              "fmax", "mel_scale", "norm", "power", "log", "eps", "top_db", "frames")}

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.settings().items())

    def num_frames(self, samples: int) -> int:
        """Frames of a waveform of ``samples`` samples."""
        return self.frames if self.frames is not None else 1 + samples // self.hop_length

    def _log(self, mel: torch.Tensor) -> torch.Tensor:
        x = mel.clamp_min(self.eps)
        if self.log == "ln":
            return x.log()
        db = 10.0 * x.log10()
        if self.top_db is not None:
            db = torch.maximum(db, db.amax(dim=(-2, -1), keepdim=True) - self.top_db)
        return db

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        if wave.ndim not in (1, 2):
            raise ValueError(f"expected a waveform (samples,) or (B, samples), got shape {tuple(wave.shape)}")
        if wave.shape[-1] < 1:
            raise ValueError("the waveform is empty")
        dtype = wave.dtype if wave.dtype == torch.float64 else torch.float32
        x = wave.to(dtype)
        if self.frames is not None and x.shape[-1] < (self.frames - 1) * self.hop_length:
            x = torch.nn.functional.pad(x, (0, (self.frames - 1) * self.hop_length - x.shape[-1]))
        spec = torch.stft(x, self.n_fft, self.hop_length, self.win_length, self.window.to(dtype), center=True,
                          pad_mode="constant", return_complex=True)  # (..., n_fft // 2 + 1, frames)
        power = spec.real**2 + spec.imag**2 if self.power == 2.0 else spec.abs() ** self.power
        out = self._log(torch.matmul(self.filterbank.to(dtype), power))
        return out if self.frames is None else out[..., : self.frames]
