"""Spoken words: a built-in sound dataset said by a real speech synthesizer (eSpeak NG), no download.

Each clip is one word (default: the digits ``zero`` .. ``nine``) said by one voice, an eSpeak NG English accent
with a voice variant (``en-us+f3``: US accent, female variant 3), at a random pitch and speed; the word is placed at
a random offset in the clip, heard in a room (an echo tail of noise decaying exponentially, RT60 0.1 - 0.6 s,
mixed in at a random level), under background noise (white or brown, 5 - 30 dB below the word) at a random
loudness. Labels are the words. Train and test use different voice variants, so every test voice is unseen.

Deterministic in ``seed``. Synthesis is the slow part (2800 utterances: about 30 s on 2 cores), so the
synthesizer's outputs are kept in :func:`~openjepa.data.cache.cache_dir` ``("spoken_words")``, keyed by eSpeak NG's
version and the utterances; rooms and noise are redone on every load (about 4 s for the default set).

eSpeak NG comes from the system's packages: ``apt-get install espeak-ng`` (Debian, Ubuntu), ``dnf install
espeak-ng``, ``brew install espeak-ng``; or from PyPI, ``pip install espeakng-loader`` (the ``speech`` extra; its
wheel ships the library and its voices). The ``espeak-ng`` command is used when it is on PATH, else that library.
Without either, making the dataset is a one-line :class:`SynthesizerMissing` (a DataError) naming the installs.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from openjepa.core.errors import DataError
from openjepa.data.audio_io import fit_length, resample
from openjepa.data.cache import cache_dir, save_npz_atomic
from openjepa.data.registry import DATASETS
from openjepa.data.sounds import AudioData, AudioSet

WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
ACCENTS = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-gb-x-gbclan", "en-gb-x-gbcwmd")
TRAIN_VARIANTS = ("m1", "m2", "m3", "m4", "m7", "f1", "f2", "f4", "Annie", "grandma", "robert", "linda", "iven2",
                  "paul", "antonio", "aunty")
TEST_VARIANTS = ("m5", "m6", "f3", "steph", "quincy", "belinda", "zac", "travis")
PITCH = (25, 75)  # eSpeak NG's pitch setting, 0 - 99 (50: the voice's own)
SPEED = (130, 210)  # words per minute
SNR_DB = (5.0, 30.0)
RT60 = (0.1, 0.6)  # seconds for the echo to fall by 60 dB
WET = (0.0, 0.5)  # echo tail's level against the direct sound
GAIN = (0.1, 0.9)  # peak level of the finished clip
INSTALL = ("the spoken_words dataset needs the eSpeak NG speech synthesizer: apt-get install espeak-ng "
           "(or brew install espeak-ng, or pip install espeakng-loader, which pip install 'openjepa[speech]' brings)")


class SynthesizerMissing(DataError):
    """eSpeak NG is neither a command on PATH nor a library ``espeakng_loader`` provides."""


class _Command:
    """The ``espeak-ng`` command: one process per utterance, written to a WAV file and read back."""

    workers = os.cpu_count() or 1  # processes saying words at once

    def __init__(self, exe: str):
        self.exe = exe
        said = subprocess.run([exe, "--version"], capture_output=True, text=True, check=True).stdout
        self.version = "espeak-ng " + said.split("Data at")[0].split(":")[-1].strip()  # "eSpeak NG ...: 1.51  Data at"

    def speak(self, word: str, voice: str, pitch: int, speed: int) -> tuple[np.ndarray, int]:
        import soundfile as sf

        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "word.wav"
            done = subprocess.run([self.exe, "-v", voice, "-p", str(pitch), "-s", str(speed), "-w", str(out),
                                   "--stdin"], input=word, capture_output=True, text=True, check=False)
            if done.returncode != 0 or not out.is_file():
                raise DataError(f"espeak-ng could not say {word!r} in voice {voice!r}: {done.stderr.strip()}")
            data, rate = sf.read(str(out), dtype="int16")
        return data, rate


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)
_SYNCHRONOUS, _RATE, _PITCH, _CHARS_UTF8, _POS_CHARACTER, _DONT_EXIT = 2, 1, 3, 1, 1, 0x8000


class _Library:
    """libespeak-ng from the ``espeakng_loader`` wheel, started in this process and called through ctypes."""

    workers = 1  # forks one child at a time: a fork while other threads hold locks could hang the child

    def __init__(self, library: str, data: str):
        self.lib = lib = ctypes.cdll.LoadLibrary(library)
        lib.espeak_Info.restype = ctypes.c_char_p
        lib.espeak_Synth.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
                                     ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
        self.rate = lib.espeak_Initialize(_SYNCHRONOUS, 0, str(Path(data).parent).encode(), _DONT_EXIT)
        if self.rate <= 0:
            raise SynthesizerMissing(f"{INSTALL}; the library at {library} did not start (voices in {data})")
        self.version = "libespeak-ng " + lib.espeak_Info(None).decode()
        self.chunks: list[np.ndarray] = []
        self.callback = _CALLBACK(self._collect)  # kept referenced: the library calls it
        lib.espeak_SetSynthCallback(self.callback)
        self.lock = threading.Lock()
        self.voice_files = _voice_files(Path(data) / "lang")

    def _voice(self, voice: str) -> str:
        """``accent+variant`` as the library names it: the accent's voice file under ``lang/`` (the command
        resolves language codes such as ``en-gb`` itself; the library only knows file paths)."""
        accent, plus, variant = voice.partition("+")
        return self.voice_files.get(accent.lower(), accent) + plus + variant

    def _collect(self, wav, count, events) -> int:
        if count > 0:
            self.chunks.append(np.ctypeslib.as_array(wav, shape=(count,)).copy())
        return 0

    def _say(self, word: str, voice: str, pitch: int, speed: int) -> np.ndarray:
        if self.lib.espeak_SetVoiceByName(self._voice(voice).encode()) != 0:
            raise DataError(f"eSpeak NG has no voice {voice!r}")
        self.lib.espeak_SetParameter(_RATE, speed, 0)
        self.lib.espeak_SetParameter(_PITCH, pitch, 0)
        self.chunks = []
        text = word.encode() + b"\0"
        if self.lib.espeak_Synth(text, len(text), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None) != 0:
            raise DataError(f"eSpeak NG could not say {word!r} in voice {voice!r}")
        return np.concatenate(self.chunks) if self.chunks else np.zeros(0, np.int16)

    def speak(self, word: str, voice: str, pitch: int, speed: int) -> tuple[np.ndarray, int]:
        """The library keeps state from one utterance to the next (its output drifts by a few samples), so each
        is said in a forked child of the freshly started library, as the command says each in a new process."""
        if not hasattr(os, "fork"):
            with self.lock:
                return self._say(word, voice, pitch, speed), self.rate
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: say it, send the samples, leave without running the parent's clean-up
            code = 1
            try:
                os.close(read)
                with os.fdopen(write, "wb") as out:
                    out.write(self._say(word, voice, pitch, speed).astype("<i2").tobytes())
                code = 0
            finally:
                os._exit(code)
        os.close(write)
        with os.fdopen(read, "rb") as pipe:
            raw = pipe.read()
        _, status = os.waitpid(pid, 0)
        if status != 0:
            raise DataError(f"eSpeak NG could not say {word!r} in voice {voice!r}")
        return np.frombuffer(raw, "<i2").astype(np.int16), self.rate


def _voice_files(lang: Path) -> dict[str, str]:
    """Language code (lower case) -> voice file path relative to ``lang`` (``en-gb`` -> ``gmw/en``): a file's own
    name, else the ``language`` lines it declares (the first file, in sorted order, to declare a code keeps it)."""
    files = sorted(p for p in lang.rglob("*") if p.is_file())
    found = {p.name.lower(): p.relative_to(lang).as_posix() for p in files}
    for path in files:
        for line in path.read_text(errors="replace").splitlines():
            words = line.split()
            if len(words) >= 2 and words[0] == "language":
                found.setdefault(words[1].lower(), path.relative_to(lang).as_posix())
    return found


_synth = None


def synthesizer():
    """eSpeak NG: the ``espeak-ng`` command if it is on PATH, else the ``espeakng_loader`` wheel's library;
    :class:`SynthesizerMissing` (one line naming the install commands) when neither is there."""
    global _synth
    if _synth is None:
        exe = shutil.which("espeak-ng")
        if exe:
            _synth = _Command(exe)
        else:
            try:
                import espeakng_loader
            except ImportError as err:
                raise SynthesizerMissing(INSTALL) from err
            _synth = _Library(espeakng_loader.get_library_path(), espeakng_loader.get_data_path())
    return _synth


def _utterances(words, voices, repeats: int, seed: int) -> list[tuple[str, str, int, int]]:
    """``(word, voice, pitch, speed)`` for each repeat of each word in each voice, pitch and speed drawn."""
    rng = np.random.default_rng((seed, 0))
    plan = []
    for voice in voices:
        for word in words:
            for _ in range(repeats):
                plan.append((word, voice, int(rng.integers(*PITCH, endpoint=True)),
                             int(rng.integers(*SPEED, endpoint=True))))
    return plan


def synthesize(plan: list[tuple[str, str, int, int]], cache: bool = True) -> tuple[list[np.ndarray], int]:
    """The int16 utterances of ``plan`` (silence trimmed) and their sample rate, from the cache when it has them."""
    synth = synthesizer()
    key = hashlib.sha256(json.dumps([synth.version, plan]).encode()).hexdigest()[:20]
    path = cache_dir("spoken_words") / f"{key}.npz" if cache else None
    if path is not None and path.is_file():
        with np.load(path) as f:
            return np.split(f["samples"], f["ends"][:-1]), int(f["rate"])
    with ThreadPoolExecutor(synth.workers) as pool:
        said = list(pool.map(lambda u: synth.speak(*u), plan))
    for (wave, _), (word, voice, *_) in zip(said, plan):
        if not np.any(wave):
            raise DataError(f"eSpeak NG said nothing for {word!r} in voice {voice!r}")
    rates = {rate for _, rate in said}
    if len(rates) != 1:
        raise DataError(f"eSpeak NG answered at several sample rates: {sorted(rates)}")
    waves, rate = [_trim(w) for w, _ in said], rates.pop()  # the silence before and after left out
    if path is not None:
        save_npz_atomic(path, samples=np.concatenate(waves), ends=np.cumsum([len(w) for w in waves]),
                        rate=np.array(rate))
    return waves, rate


def _trim(wave: np.ndarray) -> np.ndarray:
    """The stretch of ``wave`` between its first and last sample above 1% of its peak."""
    loud = np.flatnonzero(np.abs(wave) > 0.01 * np.abs(wave).max())
    return wave[loud[0] : loud[-1] + 1] if len(loud) else wave


def _room(rng: np.random.Generator, rate: int) -> np.ndarray:
    """An impulse response ``(taps,)``: the direct sound, then a noise tail decaying by 60 dB over the RT60."""
    rt60 = rng.uniform(*RT60)
    t = np.arange(1, int(rt60 * rate)) / rate
    tail = rng.standard_normal(len(t)) * np.exp(-6.9 * t / rt60)
    tail *= rng.uniform(*WET) / max(np.sqrt((tail**2).sum()), 1e-9)
    return np.concatenate([[1.0], tail])


def _convolve(x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """``(B, n)`` and ``(B, m)`` -> ``(B, n + m - 1)``: row-wise full convolution through power-of-two FFTs."""
    n = x.shape[-1] + h.shape[-1] - 1
    size = 1 << (n - 1).bit_length()
    return torch.fft.irfft(torch.fft.rfft(x, size) * torch.fft.rfft(h, size), size)[..., :n]


def _noise(rng: np.random.Generator, n: int) -> np.ndarray:
    """Unit-RMS white or brown (integrated, then high-passed by removing its mean) noise."""
    noise = rng.standard_normal(n)
    if rng.random() < 0.5:
        noise = np.cumsum(noise)
        noise -= np.linspace(noise[0], noise[-1], n)
    return noise / max(np.sqrt((noise**2).mean()), 1e-9)


def _padded(rows: list[np.ndarray]) -> torch.Tensor:
    out = torch.zeros(len(rows), max(len(r) for r in rows))
    for i, r in enumerate(rows):
        out[i, : len(r)] = torch.from_numpy(r)
    return out


def render(said: list[np.ndarray], rate: int, sample_rate: int, samples: int, seed: int,
           chunk: int = 128) -> torch.Tensor:
    """Utterances (int16 at ``rate``) -> float32 ``(N, samples)`` clips at ``sample_rate``: each trimmed, heard in
    a room, the whole word at a random offset in the clip (its echo may run past the end), under noise 5 - 30 dB
    below the word, scaled to a random peak level; clip i's draws come from ``default_rng((seed, 1, i))``. Works
    ``chunk`` clips at a time."""
    out = torch.empty(len(said), samples)
    for first in range(0, len(said), chunk):
        words = [_trim(w).astype(np.float32) / 32768 for w in said[first : first + chunk]]
        rngs = [np.random.default_rng((seed, 1, first + i)) for i in range(len(words))]
        rooms = [_room(rng, sample_rate) for rng in rngs]
        spoken = [-(-len(w) * sample_rate // rate) for w in words]  # the words' lengths at sample_rate
        echoed = _convolve(resample(_padded(words), rate, sample_rate), _padded(rooms))
        for i, (y, n, h, rng) in enumerate(zip(echoed, spoken, rooms, rngs)):
            y = y[: n + len(h) - 1]
            level = y[:n].pow(2).mean().sqrt() * 10 ** (-rng.uniform(*SNR_DB) / 20)
            if n >= samples:  # a word longer than the clip: a random stretch of it
                x = fit_length(y[:n], samples, rng=rng)
            else:  # the whole word somewhere in the clip; its echo may run past the end
                start = int(rng.integers(samples - n + 1))
                x = torch.nn.functional.pad(y[: samples - start], (start, max(0, samples - start - len(y))))
            x = x + torch.from_numpy(_noise(rng, samples)).float() * level
            out[first + i] = x * (rng.uniform(*GAIN) / x.abs().max().clamp_min(1e-9))
    return out


def make_spoken_words(words=WORDS, voices=None, repeats: int = 2, seed: int = 0, sample_rate: int = 16000,
                      seconds: float = 1.0, cache: bool = True) -> AudioSet:
    """``len(voices) x len(words) x repeats`` clips, float32 ``(N, seconds x sample_rate)``; ``voices`` are eSpeak
    NG voice names (default: every accent with every training variant); speakers = the voices."""
    voices = [f"{a}+{v}" for a in ACCENTS for v in TRAIN_VARIANTS] if voices is None else list(voices)
    if not words or not voices or repeats < 1:
        raise ValueError("need at least one word, one voice and one repeat")
    plan = _utterances(words, voices, repeats, seed)
    said, rate = synthesize(plan, cache=cache)
    samples = round(seconds * sample_rate)
    waves = render(said, rate, sample_rate, samples, seed)
    index = {w: i for i, w in enumerate(words)}
    labels = torch.tensor([index[word] for word, *_ in plan], dtype=torch.long)
    return AudioSet(waves, labels, list(words), sample_rate, [voice for _, voice, *_ in plan])


def load_spoken_words(words=WORDS, train_repeats: int = 2, test_repeats: int = 1, sample_rate: int = 16000,
                      seconds: float = 1.0, seed: int = 0, accents=ACCENTS, train_variants=TRAIN_VARIANTS,
                      test_variants=TEST_VARIANTS, cache: bool = True) -> AudioData:
    """The built-in ``spoken_words``: train on ``accents x train_variants``, test on ``accents x test_variants``
    (default 7 accents x 16 variants x 10 words x 2 = 2240 and 7 x 8 x 10 = 560 one-second clips at 16 kHz)."""
    if set(train_variants) & set(test_variants):
        raise ValueError(f"train and test share voice variants {sorted(set(train_variants) & set(test_variants))}")
    common = dict(words=tuple(words), sample_rate=sample_rate, seconds=seconds, cache=cache)
    train = make_spoken_words(voices=[f"{a}+{v}" for a in accents for v in train_variants], repeats=train_repeats,
                              seed=seed, **common)
    test = make_spoken_words(voices=[f"{a}+{v}" for a in accents for v in test_variants], repeats=test_repeats,
                             seed=seed + 1, **common)
    return AudioData("spoken_words", train, test)


@DATASETS.register("spoken_words", modality="audio")
def spoken_words_dataset(cfg) -> AudioData:
    """``spoken_words`` at the data config's ``sample_rate`` and ``seconds``."""
    return load_spoken_words(sample_rate=cfg.sample_rate, seconds=cfg.seconds)
