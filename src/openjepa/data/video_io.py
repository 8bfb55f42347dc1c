"""Video clips: decode with PyAV (optional), list class folders or `path label` files, serve clips as a Dataset."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from openjepa.core.errors import DataError

log = logging.getLogger("openjepa")
VIDEO_SUFFIXES = {".mp4", ".avi", ".webm", ".mkv", ".mov"}
_SEEK_MIN = 32  # starts at least this many frames in seek to a keyframe; nearer ones decode from the first frame


class VideoReadError(DataError):
    """A video file that is missing, empty, corrupt or cannot be decoded; the message names the file."""


def _av():
    try:
        import av
    except ImportError as err:
        raise ImportError("reading videos needs PyAV: pip install 'openjepa[video]'") from err
    return av


@contextmanager
def _open(path: Path):
    """``(container, video stream)``; PyAV's and OS errors inside the block become :class:`VideoReadError`."""
    av = _av()
    if not path.is_file():
        raise VideoReadError(f"video not found: {path}")
    if path.stat().st_size == 0:
        raise VideoReadError(f"video file is empty: {path}")
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise VideoReadError(f"no video stream in {path}")
            yield container, container.streams.video[0]
    except (av.error.FFmpegError, OSError) as err:
        raise VideoReadError(f"cannot decode video {path}: {err}") from err


def _rate(stream) -> Fraction | None:
    """Frames per second from the container, or None when it does not say."""
    return stream.average_rate or stream.guessed_rate or None


def _frame_count(container, stream) -> int:
    """Frames in the header, else estimated from duration x rate (mkv, webm); 0 when unknown."""
    if stream.frames:
        return stream.frames
    rate = _rate(stream)
    if stream.duration and rate:
        return round(stream.duration * stream.time_base * rate)
    if container.duration and rate:
        return round(container.duration / 1_000_000 * rate)
    return 0


def _indexed(container, stream, start: int) -> Iterator[tuple[int, object]]:
    """``(frame index, frame)`` in display order, from a keyframe at or before ``start`` when that is far in.

    After a seek the first frame's index comes from its timestamp; if the seek lands past ``start`` (a bad
    index), decoding restarts from the beginning.
    """
    rate, t0 = _rate(stream), stream.start_time or 0
    if start >= _SEEK_MIN and rate and stream.time_base:
        container.seek(t0 + int(start / rate / stream.time_base), stream=stream, backward=True)
        frames = container.decode(stream)
        first = next(frames, None)
        if first is not None and first.pts is not None:
            index = round((first.pts - t0) * stream.time_base * rate)
            if index <= start:
                yield index, first
                yield from enumerate(frames, index + 1)
                return
        container.seek(0)
    yield from enumerate(container.decode(stream))


def _from_start(indexed: Iterator[tuple[int, object]], start: int) -> Iterator[tuple[int, object]]:
    """The frames from index ``start`` on; only the last frame when ``start`` is past the end."""
    last = None
    for index, frame in indexed:
        if index >= start:
            yield index, frame
            yield from indexed
            return
        last = index, frame
    if last is not None:
        yield last


def _pick_steps(indexed, frames: int, step: int) -> tuple[list, object]:
    """Up to ``frames`` frames ``step`` apart from the first one, and the last frame decoded."""
    picked, first, last = [], None, None
    for index, frame in indexed:
        first = index if first is None else first
        last = frame
        if (index - first) % step == 0:
            picked.append(frame)
            if len(picked) == frames:
                break
    return picked, last


def _pick_times(indexed, frames: int, fps: float, rate: Fraction) -> tuple[list, object]:
    """Up to ``frames`` frames nearest to times ``1/fps`` apart from the first one, and the last frame decoded."""
    picked, prev, prev_t, t0 = [], None, 0.0, None
    for index, frame in indexed:
        t = frame.time if frame.pts is not None else float(index / rate)
        t0 = t if t0 is None else t0
        while len(picked) < frames and (target := t0 + len(picked) / fps) <= t:
            picked.append(prev if prev is not None and target - prev_t < t - target else frame)
        if len(picked) == frames:
            break
        prev, prev_t = frame, t
    return picked, prev


def _to_array(frame, size: int | None) -> np.ndarray:
    """``(H, W, 3)`` uint8 RGB; with ``size``, the shorter side resized to ``size`` and centre-cropped square."""
    if size is None:
        return frame.to_ndarray(format="rgb24")
    img = frame.to_image()
    w, h = img.size
    scale = size / min(w, h)
    nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
    left, top = (nw - size) // 2, (nh - size) // 2
    img = img.resize((nw, nh), Image.BILINEAR).crop((left, top, left + size, top + size))
    return np.asarray(img)


def _check_args(frames: int, frame_step: int, fps: float | None, start: int | None,
                position: float = 0.5) -> None:
    if not 0 <= position <= 1:
        raise ValueError(f"position must lie in [0, 1], got {position}")
    if frames < 1 or frame_step < 1:
        raise ValueError(f"frames and frame_step must be >= 1, got {frames} and {frame_step}")
    if fps is not None and fps <= 0:
        raise ValueError(f"fps must be > 0, got {fps}")
    if start is not None and start < 0:
        raise ValueError(f"start must be >= 0, got {start}")


_warned_short: set[int] = set()


def _warn_short(path: Path, found: int, frames: int) -> None:
    """Say once per process and clip length that videos are too short for the clip and repeat their last frame."""
    if frames not in _warned_short:
        _warned_short.add(frames)
        log.warning("%s gives %d of the %d frames a clip needs (at this frame_step / fps): its last frame is "
                    "repeated, here and for any other video as short (lower data.frames or data.frame_step)",
                    path, found, frames)


def read_clip(path: str | Path, frames: int, frame_step: int = 1, fps: float | None = None, start: int | None = None,
              size: int | None = None, rng: np.random.Generator | None = None, position: float = 0.5) -> torch.Tensor:
    """uint8 ``(3, frames, H, W)`` clip (``(3, frames, size, size)`` with ``size``).

    Frames are ``frame_step`` decoded frames apart, or with ``fps`` the decoded frames nearest to times ``1/fps``
    apart. The clip starts at frame index ``start``, else at a random start from ``rng`` that keeps it inside the
    video, else at ``position`` of the way from the first possible start to the last (0.5: centred). Frames past the end of the video (a short video, or ``start`` past its end) repeat its
    last frame. Decoding stops at the last frame needed; starts far in seek to the keyframe before them.
    Raises :class:`VideoReadError` for a missing, empty, corrupt or undecodable file.
    """
    _check_args(frames, frame_step, fps, start, position)
    path = Path(path)
    with _open(path) as (container, stream):
        rate = _rate(stream)
        if fps is not None and rate is None:
            raise VideoReadError(f"{path} does not give its frame rate, so it cannot be resampled to fps={fps}")
        span = (frames - 1) * frame_step + 1 if fps is None else round((frames - 1) * rate / Fraction(fps)) + 1
        if start is None:
            room = max(_frame_count(container, stream) - span, 0)
            start = int(rng.integers(room + 1)) if rng is not None else int(room * position)
        indexed = _from_start(_indexed(container, stream, start), start)
        if fps is None:
            picked, last = _pick_steps(indexed, frames, frame_step)
        else:
            picked, last = _pick_times(indexed, frames, fps, rate)
        if last is None:
            raise VideoReadError(f"cannot decode video {path}: no frames could be decoded")
        if len(picked) < frames:
            _warn_short(path, len(picked), frames)
        picked += [last] * (frames - len(picked))
        arrays = {id(f): _to_array(f, size) for f in picked}
    clip = np.stack([arrays[id(f)] for f in picked])
    return torch.from_numpy(clip).permute(3, 0, 1, 2).contiguous()


def probe(path: str | Path) -> dict:
    """``frames`` (estimated from the duration where the container has no count), ``fps``, ``width``, ``height``,
    ``duration`` (seconds) and ``codec`` of a video, from its headers."""
    path = Path(path)
    with _open(path) as (container, stream):
        rate = _rate(stream)
        if stream.duration:
            duration = float(stream.duration * stream.time_base)
        else:
            duration = container.duration / 1_000_000 if container.duration else None
        return {"frames": _frame_count(container, stream), "fps": float(rate) if rate else None,
                "width": stream.codec_context.width, "height": stream.codec_context.height,
                "duration": duration, "codec": stream.codec_context.name}


def _video_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)


def _read_list(listing: Path) -> list[tuple[Path, str]]:
    """``path label`` or ``path,label`` lines; '#' starts a comment line; relative paths are from the list's folder."""
    try:
        lines = listing.read_text().splitlines()
    except UnicodeDecodeError as err:
        raise DataError(f"{listing} is not a text list of 'path label' lines ({err})") from err
    videos = []
    for lineno, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = [s.strip() for s in (line.rsplit(",", 1) if "," in line else line.rsplit(None, 1))]
        if len(parts) != 2 or not all(parts):
            raise DataError(f"{listing}:{lineno}: expected 'path label', got {line!r}")
        video = listing.parent / parts[0]
        if not video.is_file():
            raise DataError(f"{listing}:{lineno}: listed video not found: {video}")
        videos.append((video, parts[1]))
    if not videos:
        raise DataError(f"{listing} lists no videos; expected lines of 'path label'")
    return videos


def list_videos(root: str | Path) -> list[tuple[Path, str]]:
    """``(video path, class name)`` pairs from class folders ``root/<class>/**/*.mp4`` (sorted), or from a
    list file of ``path label`` lines (space or comma separated)."""
    root = Path(root)
    if root.is_file():
        return _read_list(root)
    if not root.is_dir():
        raise DataError(f"video folder or list file not found: {root}")
    if not any(root.iterdir()):
        raise DataError(f"video folder is empty: {root}")
    classes = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    videos = [(p, d.name) for d in classes for p in _video_files(d)]
    if not videos:
        raise DataError(
            f"no videos found in {root}; expected {root}/<class>/*.mp4 (or a list file of 'path label' lines). "
            f"Video suffixes looked for: {', '.join(sorted(VIDEO_SUFFIXES))}"
        )
    return videos


def _sorted_classes(labels: set[str]) -> list[str]:
    """Class names sorted; all-integer names sort as numbers, so labels 0..K-1 keep their values."""
    return sorted(labels, key=int) if all(s.isdigit() for s in labels) else sorted(labels)


class VideoFolder(torch.utils.data.Dataset):
    """Clips of ``(path, class name)`` videos: ``dataset[i]`` is ``(uint8 (3, T, H, W), class index)``.

    ``seed`` None gives the clip at ``position`` of each video (0.5: centred); otherwise each clip starts at random,
    drawn from ``(seed, epoch, i)`` (see :meth:`set_epoch`). ``on_error="skip"`` replaces an unreadable video by the next readable one and logs a
    warning naming it once (per process); ``"stop"`` raises :class:`VideoReadError`.
    """

    def __init__(self, videos: list[tuple[str | Path, str]], frames: int, *, frame_step: int = 1,
                 fps: float | None = None, size: int | None = None, on_error: str = "skip", seed: int | None = 0,
                 position: float = 0.5):
        if on_error not in ("skip", "stop"):
            raise ValueError(f"on_error must be 'skip' or 'stop', got {on_error!r}")
        if not videos:
            raise DataError("no videos to read")
        _check_args(frames, frame_step, fps, None, position)
        self.videos = [(Path(p), str(label)) for p, label in videos]
        self.classes = _sorted_classes({label for _, label in self.videos})
        self._class_index = {name: i for i, name in enumerate(self.classes)}
        self.frames, self.frame_step, self.fps, self.size = frames, frame_step, fps, size
        self.on_error, self.seed, self.epoch, self.position = on_error, seed, 0, position
        self._bad: set[int] = set()

    def set_epoch(self, epoch: int) -> None:
        """Draw other random starts in each epoch."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.videos)

    def _clip(self, path: Path, index: int) -> torch.Tensor:
        rng = None if self.seed is None else np.random.default_rng((self.seed, self.epoch, index))
        return read_clip(path, self.frames, self.frame_step, self.fps, size=self.size, rng=rng, position=self.position)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} videos")
        for j in range(index, index + len(self)):
            j %= len(self)
            if j in self._bad:
                continue
            path, label = self.videos[j]
            try:
                return self._clip(path, index), self._class_index[label]
            except VideoReadError as err:
                if self.on_error == "stop":
                    raise
                self._bad.add(j)
                log.warning("skipping unreadable video (the next readable one replaces it): %s", err)
        raise VideoReadError(f"none of the {len(self)} videos could be read")
