"""The audio parts: sound files read back at one rate and length, the bad-file errors, the log-mel front end
against a NumPy reference of its formulas, and the spoken-word generator."""

import math

import numpy as np
import pytest
import torch

from openjepa.core.errors import DataError
from openjepa.data.audio_io import AudioReadError, audio_info, fit_length, load_audio, resample
from openjepa.data.melspec import LogMel

sf = pytest.importorskip("soundfile")

SR = 16000
TONE = 440.0


def _tone(rate: int, seconds: float = 0.5, freq: float = TONE) -> np.ndarray:
    t = np.arange(int(round(rate * seconds))) / rate
    return 0.5 * np.sin(2 * np.pi * freq * t)


def _peak_hz(wave: torch.Tensor, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(wave.double().numpy() * np.hanning(len(wave))))
    return float(np.fft.rfftfreq(len(wave), 1 / rate)[spectrum.argmax()])


@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize("rate", [8000, 22050, 44100, 48000])
@pytest.mark.parametrize("fmt", ["WAV", "FLAC"])
def test_files_read_back_at_16k(tmp_path, fmt, rate, channels):
    tone = _tone(rate)
    data = tone if channels == 1 else np.stack([tone, 0.5 * tone], axis=1)  # mono mix: 0.75 x the tone
    path = tmp_path / f"tone.{fmt.lower()}"
    sf.write(path, data, rate, format=fmt, subtype="PCM_16")
    assert audio_info(path) == {"sample_rate": rate, "channels": channels, "frames": len(tone), "duration": 0.5,
                                "format": fmt}
    wave = load_audio(path, SR)
    assert wave.dtype == torch.float32 and wave.shape == (SR // 2,)
    assert _peak_hz(wave, SR) == TONE
    expected = (1.0 if channels == 1 else 0.75) * _tone(SR)
    inner = slice(400, -400)  # the filter's edge transients left out
    assert np.abs(wave.numpy()[inner] - expected[inner]).max() < 3e-3


def test_ogg_and_fixed_length(tmp_path):
    path = tmp_path / "tone.ogg"
    sf.write(path, _tone(44100, 1.0), 44100, format="OGG", subtype="VORBIS")
    wave = load_audio(path, SR, length=4000)
    assert wave.shape == (4000,) and wave.is_contiguous()
    assert abs(_peak_hz(wave, SR) - TONE) <= 4


def test_resampling_keeps_the_level_and_removes_what_the_new_rate_cannot_hold():
    ones = resample(torch.ones(4800, dtype=torch.float64), 48000, 16000)
    assert ones.shape == (1600,) and torch.allclose(ones[50:-50], torch.ones(1500, dtype=torch.float64), atol=1e-3)
    high = torch.from_numpy(_tone(48000, 1.0, freq=7000.0))  # above the 4 kHz Nyquist of 8 kHz
    down = resample(high, 48000, 8000)
    assert down.shape == (8000,) and down[200:-200].pow(2).mean() < 1e-4 * high.pow(2).mean()
    batch = resample(torch.randn(3, 2, 1000), 22050, 16000)
    assert batch.shape == (3, 2, math.ceil(1000 * 16000 / 22050))
    assert torch.equal(resample(high, 48000, 48000), high)


def test_fit_length_crops_and_pads():
    wave = torch.arange(10.0)
    assert fit_length(wave, 4).tolist() == [3, 4, 5, 6]  # centred
    assert fit_length(wave, 4, position=0).tolist() == [0, 1, 2, 3]
    assert fit_length(wave[:3], 7).tolist() == [0, 0, 0, 1, 2, 0, 0]
    assert fit_length(wave[:3], 7, position=0).tolist() == [0, 1, 2, 0, 0, 0, 0]
    crops = {tuple(fit_length(wave, 4, rng=np.random.default_rng(s)).tolist()) for s in range(40)}
    assert crops == {tuple(range(i, i + 4)) for i in range(7)}  # every window reachable
    a, b = (fit_length(wave[:3], 7, rng=np.random.default_rng(5)) for _ in range(2))
    assert torch.equal(a, b) and a.sum() == 3
    assert fit_length(torch.ones(2, 5), 3).shape == (2, 3)


def _bad_files(folder):
    empty = folder / "empty.wav"
    empty.write_bytes(b"")
    garbage = folder / "garbage.wav"
    garbage.write_bytes(b"this is not a sound file at all " * 8)
    nothing = folder / "no_samples.wav"
    sf.write(nothing, np.zeros(0), SR)
    silent = folder / "silent.flac"
    sf.write(silent, np.zeros(SR // 4), SR)
    nan = folder / "nan.wav"
    sf.write(nan, np.array([0.1, np.nan, 0.2] * 100, dtype=np.float32), SR, subtype="FLOAT")
    return {"not found": folder / "missing.wav", "empty": empty, "cannot read": garbage, "no samples": nothing,
            "silent": silent, "NaN": nan, "folder": folder}


def test_bad_files_are_one_line_errors_naming_the_file(tmp_path):
    for words, path in _bad_files(tmp_path).items():
        with pytest.raises(AudioReadError) as err:
            load_audio(path, SR)
        message = str(err.value)
        assert isinstance(err.value, DataError) and "\n" not in message and str(path) in message, message
        assert words in message, message
    assert load_audio(tmp_path / "silent.flac", SR, allow_silent=True).abs().max() == 0


# --- the log-mel front end against a NumPy reference of the same formulas, written out loop by loop ---


def _ref_mel(hz: float, htk: bool) -> float:
    if htk:
        return 2595.0 * math.log10(1.0 + hz / 700.0)
    return hz * 3 / 200 if hz < 1000 else 15.0 + 27.0 * math.log(hz / 1000.0) / math.log(6.4)


def _ref_hz(mel: float, htk: bool) -> float:
    if htk:
        return 700.0 * (10 ** (mel / 2595.0) - 1.0)
    return mel * 200 / 3 if mel < 15 else 1000.0 * 6.4 ** ((mel - 15.0) / 27.0)


def _ref_filterbank(sr, n_fft, n_mels, fmin, fmax, htk, norm):
    lo, hi = _ref_mel(fmin, htk), _ref_mel(fmax, htk)
    corners = [_ref_hz(lo + (hi - lo) * i / (n_mels + 1), htk) for i in range(n_mels + 2)]
    bins = [k * sr / n_fft for k in range(n_fft // 2 + 1)]
    fb = np.zeros((n_mels, len(bins)))
    for m in range(n_mels):
        left, centre, right = corners[m : m + 3]
        for k, f in enumerate(bins):
            if left < f <= centre:
                fb[m, k] = (f - left) / (centre - left)
            elif centre < f < right:
                fb[m, k] = (right - f) / (right - centre)
        if norm:
            fb[m] *= 2.0 / (right - left)
    return fb


def _reference_logmel(wave, sr, n_fft, win, hop, n_mels, fmin, fmax, htk, norm, log, eps, top_db):
    window = np.zeros(n_fft)
    start = (n_fft - win) // 2
    window[start : start + win] = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(win) / win)  # periodic Hann
    padded = np.concatenate([np.zeros(n_fft // 2), wave, np.zeros(n_fft // 2)])
    frames = 1 + len(wave) // hop
    power = np.stack([np.abs(np.fft.rfft(padded[t * hop : t * hop + n_fft] * window)) ** 2 for t in range(frames)], 1)
    mel = _ref_filterbank(sr, n_fft, n_mels, fmin, fmax, htk, norm) @ power
    if log == "ln":
        return np.log(np.maximum(mel, eps))
    db = 10 * np.log10(np.maximum(mel, eps))
    return np.maximum(db, db.max() - top_db)


def _speechlike(sr: int, seconds: float, seed: int = 0) -> np.ndarray:
    """A chirp, a harmonic tone with vibrato, a noise burst and a stretch of silence."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(sr * seconds)) / sr
    x = 0.3 * np.sin(2 * np.pi * (200 * t + 1500 * t**2))
    x += sum(0.1 / h * np.sin(2 * np.pi * h * 150 * (t + 0.002 * np.sin(2 * np.pi * 5 * t))) for h in range(1, 8))
    x[len(t) // 2 : len(t) // 2 + sr // 10] += 0.2 * rng.standard_normal(sr // 10)
    x[-sr // 8 :] = 0
    return x


SETTINGS = [
    dict(sr=16000, n_fft=400, win=400, hop=160, n_mels=64, fmin=0.0, fmax=8000.0, htk=False, norm=True, log="ln",
         eps=1e-6, top_db=None),
    dict(sr=16000, n_fft=512, win=400, hop=160, n_mels=40, fmin=20.0, fmax=7600.0, htk=True, norm=False, log="ln",
         eps=1.1920929e-07, top_db=None),
    dict(sr=32000, n_fft=1024, win=800, hop=320, n_mels=128, fmin=20.0, fmax=16000.0, htk=True, norm=False,
         log="db", eps=1e-10, top_db=80.0),
    dict(sr=22050, n_fft=2048, win=2048, hop=512, n_mels=128, fmin=0.0, fmax=11025.0, htk=False, norm=True,
         log="db", eps=1e-10, top_db=80.0),
]


def _frontend(s: dict) -> LogMel:
    return LogMel(s["sr"], s["n_fft"], s["win"], s["hop"], s["n_mels"], s["fmin"], s["fmax"],
                  mel_scale="htk" if s["htk"] else "slaney", norm=s["norm"], log=s["log"], eps=s["eps"],
                  top_db=s["top_db"])


@pytest.mark.parametrize("s", SETTINGS, ids=lambda s: f"{s['sr']}-{s['n_mels']}-{'htk' if s['htk'] else 'slaney'}"
                         f"-{s['log']}")
def test_logmel_matches_the_reference(s):
    wave = _speechlike(s["sr"], 1.0)
    expected = _reference_logmel(wave, **s)
    frontend = _frontend(s)
    got64 = frontend(torch.from_numpy(wave)).numpy()
    assert got64.shape == expected.shape == (s["n_mels"], 1 + len(wave) // s["hop"])
    assert np.abs(got64 - expected).max() < 1e-4
    got32 = _frontend(s)(torch.from_numpy(wave).float())
    assert got32.dtype == torch.float32
    db = s["log"] == "db"
    error = np.abs(got32.double().numpy() - expected) * (math.log(10) / 10 if db else 1.0)  # natural-log units
    level = expected if db else expected * (10 / math.log(10))  # dB
    loud = level > level.max() - 60  # float32 agrees to 1e-4 within 60 dB of the peak
    assert error[loud].max() < 1e-4 and error.max() < 5e-3


def test_logmel_batches_fixed_frames_and_is_frozen():
    frontend = LogMel(16000, 400, hop_length=160, n_mels=64, frames=98)
    assert list(frontend.parameters()) == [] and frontend.state_dict() == {}
    waves = torch.from_numpy(np.stack([_speechlike(16000, 1.0, seed) for seed in range(3)])).float()
    batch = frontend(waves)
    assert batch.shape == (3, 64, 98)
    assert torch.allclose(batch[1], frontend(waves[1]), atol=1e-5)
    short = frontend(waves[0, :8000])  # half a second: zero-padded to 98 frames
    assert short.shape == (64, 98) and torch.allclose(short[:, :45], batch[0, :, :45], atol=1e-4)
    assert torch.allclose(short[:, 60:], torch.full((64, 38), math.log(1e-6)))
    assert frontend.num_frames(16000) == 98 and LogMel(hop_length=160).num_frames(16000) == 101
    assert frontend.settings()["frames"] == 98 and "n_mels=64" in repr(frontend)


# --- spoken words said by eSpeak NG ---


def _has_espeak() -> bool:
    import importlib.util
    import shutil

    return bool(shutil.which("espeak-ng")) or importlib.util.find_spec("espeakng_loader") is not None


needs_espeak = pytest.mark.skipif(not _has_espeak(), reason="eSpeak NG is not installed (apt-get install espeak-ng "
                                  "or pip install espeakng-loader)")


@needs_espeak
def test_spoken_words_split_by_voice_deterministic_and_cached(tmp_path, monkeypatch):
    from openjepa.data.spoken_words import GAIN, load_spoken_words

    monkeypatch.setenv("OPENJEPA_CACHE", str(tmp_path))
    kw = dict(words=("yes", "no"), accents=("en-us",), train_variants=("m1", "f2"), test_variants=("m5",),
              seconds=0.8)
    data = load_spoken_words(**kw)
    assert data.name == "spoken_words" and data.sample_rate == SR and data.samples == 12800
    train, test = data.train, data.test
    assert train.waves.shape == (8, 12800) and test.waves.shape == (2, 12800) and train.classes == ["yes", "no"]
    assert train.labels.bincount().tolist() == [4, 4] and test.labels.tolist() == [0, 1]
    assert set(train.speakers) == {"en-us+m1", "en-us+f2"} and set(test.speakers) == {"en-us+m5"}
    peaks = torch.cat([train.waves, test.waves]).abs().amax(1)
    assert torch.isfinite(train.waves).all() and (peaks >= GAIN[0] - 1e-6).all() and (peaks <= GAIN[1] + 1e-6).all()
    assert len(list((tmp_path / "spoken_words").glob("*.npz"))) == 2  # the synthesizer's outputs, one per split
    again = load_spoken_words(**kw)  # from the cache
    assert torch.equal(again.train.waves, train.waves) and torch.equal(again.test.waves, test.waves)
    for f in (tmp_path / "spoken_words").glob("*.npz"):
        f.unlink()
    fresh = load_spoken_words(**kw)  # said again: the synthesizer is deterministic too
    assert torch.equal(fresh.train.waves, train.waves)


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="the library says each word in a forked child")
def test_the_pip_library_says_words_deterministically(tmp_path, monkeypatch):
    loader = pytest.importorskip("espeakng_loader")
    from openjepa.data import spoken_words

    lib = spoken_words._Library(loader.get_library_path(), loader.get_data_path())
    a, rate = lib.speak("seven", "en-gb-scotland+m3", 40, 150)
    b, _ = lib.speak("seven", "en-gb-scotland+m3", 40, 150)
    assert rate == 22050 and a.dtype == np.int16 and len(a) > rate // 4 and np.array_equal(a, b)
    monkeypatch.setattr(spoken_words, "_synth", None)  # no espeak-ng command: the dataset comes from the library
    monkeypatch.setattr(spoken_words.shutil, "which", lambda name: None)
    kw = dict(words=("yes", "no"), accents=("en-us",), train_variants=("m1",), test_variants=("f2",), cache=False)
    first, second = spoken_words.load_spoken_words(**kw), spoken_words.load_spoken_words(**kw)
    assert isinstance(spoken_words._synth, spoken_words._Library) and first.train.waves.shape == (4, SR)
    assert torch.equal(first.train.waves, second.train.waves)


def test_a_missing_synthesizer_is_one_line_naming_the_install(monkeypatch):
    import sys

    from openjepa.data import spoken_words

    monkeypatch.setattr(spoken_words, "_synth", None)
    monkeypatch.setattr(spoken_words.shutil, "which", lambda name: None)
    monkeypatch.setitem(sys.modules, "espeakng_loader", None)  # import fails
    with pytest.raises(spoken_words.SynthesizerMissing) as err:
        spoken_words.load_spoken_words(words=("yes",))
    assert isinstance(err.value, DataError) and "\n" not in str(err.value)
    assert "apt-get install espeak-ng" in str(err.value) and "pip install espeakng-loader" in str(err.value)
