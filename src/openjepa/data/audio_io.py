"""Sound files -> mono float32 waveforms ``(samples,)`` at one sample rate and length.

Files are read with ``soundfile`` (libsndfile: WAV, FLAC, OGG/Vorbis, and whatever else it knows), at any sample
rate and channel count; channels are averaged, the rate is changed by band-limited (Hann-windowed sinc)
interpolation in torch, and the waveform is cut or zero-padded to a fixed length. A missing, empty, unreadable or
silent file, or one holding NaN or infinite samples, is an :class:`AudioReadError` whose one-line message names it.
"""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from openjepa.core.errors import DataError

AUDIO_SUFFIXES = frozenset({".wav", ".flac", ".ogg"})
SILENCE = 1e-4  # a file whose peak |sample| is below this (-80 dBFS) is silent
MAX_KERNEL = 20_000_000  # resampling refuses rate pairs whose polyphase kernels would hold more numbers


class AudioReadError(DataError):
    """A sound file that is missing, empty, unreadable, silent or holds non-finite samples; names the file."""


def _soundfile():
    try:
        import soundfile
    except (ImportError, OSError) as err:  # OSError: the package is there but libsndfile is not
        raise ImportError(f"reading sound files needs soundfile: pip install soundfile ({err})") from err
    return soundfile


def read_samples(path: str | Path, *, allow_silent: bool = False) -> tuple[np.ndarray, int]:
    """A sound file as float32 ``(frames, channels)`` in [-1, 1] and its sample rate, checked (see the module)."""
    sf = _soundfile()
    path = Path(path)
    if not path.is_file():
        raise AudioReadError(f"sound file not found: {path}" if not path.is_dir() else f"not a sound file but a "
                             f"folder: {path}")
    if path.stat().st_size == 0:
        raise AudioReadError(f"sound file is empty (0 bytes): {path}")
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.SoundFileError, RuntimeError, OSError, TypeError, ValueError) as err:
        reason = " ".join(str(getattr(err, "error_string", None) or err).split())
        raise AudioReadError(f"cannot read sound file {path}: {reason}") from err
    if data.size == 0:
        raise AudioReadError(f"sound file holds no samples: {path}")
    if not np.isfinite(data).all():
        raise AudioReadError(f"sound file holds NaN or infinite samples: {path}")
    if not allow_silent and float(np.abs(data).max()) < SILENCE:
        raise AudioReadError(f"sound file is silent (every sample below {SILENCE:g} in magnitude): {path}")
    return data, int(rate)


@lru_cache(maxsize=32)
def _sinc_kernel(orig: int, new: int, width: int, rolloff: float) -> tuple[torch.Tensor, int]:
    """float64 ``(new, 1, orig + 2 pad)`` polyphase kernels and ``pad`` for reduced rates ``orig`` -> ``new``.

    Output phase p of each block of ``orig`` inputs sits at time p / new, input k at k / orig (in blocks); the
    kernel is the low-pass ``c/orig * sinc(c (t_out - t_in))`` with cutoff ``c = rolloff * min(orig, new)`` (so DC
    gain is 1), windowed by a Hann window reaching zero ``width`` zero crossings of the sinc away.
    """
    cutoff = rolloff * min(orig, new)
    pad = math.ceil(width * orig / cutoff)
    t_in = torch.arange(-pad, orig + pad, dtype=torch.float64) / orig
    t_out = torch.arange(new, dtype=torch.float64)[:, None] / new
    x = (t_in[None, :] - t_out) * cutoff  # distance in sinc zero crossings, (new, orig + 2 pad)
    window = torch.where(x.abs() <= width, torch.cos(x * (math.pi / (2 * width))) ** 2, torch.zeros_like(x))
    kernel = torch.sinc(x) * window * (cutoff / orig)
    return kernel[:, None, :], pad


def resample(wave: torch.Tensor, orig_rate: int, new_rate: int, *, width: int = 6,
             rolloff: float = 0.99) -> torch.Tensor:
    """``(..., samples)`` at ``orig_rate`` -> ``(..., ceil(samples * new_rate / orig_rate))`` at ``new_rate``.

    Band-limited interpolation: each output sample is a Hann-windowed sinc sum of the inputs within ``width`` zero
    crossings, the sinc's cutoff at ``rolloff`` times the lower Nyquist frequency (anti-aliasing when downsampling),
    computed as a strided convolution with one kernel per output phase. Works in the input's float dtype.
    """
    if orig_rate <= 0 or new_rate <= 0:
        raise ValueError(f"sample rates must be > 0, got {orig_rate} and {new_rate}")
    if not 0 < rolloff <= 1 or width < 1:
        raise ValueError(f"need 0 < rolloff <= 1 and width >= 1, got {rolloff} and {width}")
    if orig_rate == new_rate:
        return wave
    g = math.gcd(orig_rate, new_rate)
    orig, new = orig_rate // g, new_rate // g
    if new * (orig + 2 * math.ceil(width * orig / (rolloff * min(orig, new)))) > MAX_KERNEL:
        raise ValueError(f"cannot resample {orig_rate} Hz to {new_rate} Hz: the rates share no large common "
                         f"factor ({orig}:{new}); convert the file to a common rate first")
    kernel, pad = _sinc_kernel(orig, new, width, rolloff)
    shape, length = wave.shape[:-1], wave.shape[-1]
    x = wave.reshape(-1, 1, length)
    x = F.pad(x, (pad, pad + orig))
    y = F.conv1d(x, kernel.to(wave.dtype), stride=orig)  # (B, new, blocks): phase p of block b is output b new + p
    y = y.transpose(1, 2).reshape(x.shape[0], -1)[:, : math.ceil(length * new / orig)]
    return y.reshape(*shape, -1)


def fit_length(wave: torch.Tensor, length: int, *, rng: np.random.Generator | None = None,
               position: float = 0.5) -> torch.Tensor:
    """``(..., samples)`` -> ``(..., length)``: a window of a longer waveform, or a shorter one zero-padded around.

    The offset (of the window in the waveform, or of the waveform in the padded output) is drawn uniformly from
    ``rng`` when given, else ``position`` of the way along the room (0.5: centred; 0: crop the start / pad the end).
    """
    if length < 1:
        raise ValueError(f"length must be >= 1 sample, got {length}")
    if not 0 <= position <= 1:
        raise ValueError(f"position must lie in [0, 1], got {position}")
    have = wave.shape[-1]
    room = abs(have - length)
    offset = int(rng.integers(room + 1)) if rng is not None else int(room * position)
    if have >= length:
        return wave[..., offset : offset + length]
    return F.pad(wave, (offset, room - offset))


def load_audio(path: str | Path, sample_rate: int, length: int | None = None, *,
               rng: np.random.Generator | None = None, position: float = 0.5,
               allow_silent: bool = False) -> torch.Tensor:
    """float32 ``(samples,)`` mono at ``sample_rate`` (``(length,)`` with ``length``, see :func:`fit_length`).

    Raises :class:`AudioReadError` for a missing, empty, unreadable, silent (unless ``allow_silent``) or
    non-finite file; the silence check looks at the whole file, before cutting.
    """
    data, rate = read_samples(path, allow_silent=allow_silent)
    try:
        wave = resample(torch.from_numpy(data.mean(axis=1)), rate, sample_rate)
    except ValueError as err:
        raise AudioReadError(f"{path}: {err}") from err
    return wave if length is None else fit_length(wave, length, rng=rng, position=position).contiguous()


def audio_info(path: str | Path) -> dict:
    """``sample_rate``, ``channels``, ``frames``, ``duration`` (seconds) and ``format`` of a sound file, from its
    header (nothing decoded)."""
    sf = _soundfile()
    path = Path(path)
    if not path.is_file():
        raise AudioReadError(f"sound file not found: {path}")
    try:
        info = sf.info(str(path))
    except (sf.SoundFileError, RuntimeError, OSError, TypeError, ValueError) as err:
        reason = " ".join(str(getattr(err, "error_string", None) or err).split())
        raise AudioReadError(f"cannot read sound file {path}: {reason}") from err
    return {"sample_rate": int(info.samplerate), "channels": int(info.channels), "frames": int(info.frames),
            "duration": float(info.duration), "format": str(info.format)}
