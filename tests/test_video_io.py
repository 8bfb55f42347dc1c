import logging
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from openjepa.core.errors import DataError
from openjepa.data import video_io
from openjepa.data.video_io import VideoFolder, VideoReadError, list_videos, probe, read_clip

av = pytest.importorskip("av")

N, RATE = 24, 10
VTEST = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")
# container suffix -> (encoder, pixel format); libx264 uses B-frames, so display order differs from decode order
CODECS = {"mp4": ("libx264", "yuv420p"), "avi": ("mjpeg", "yuvj420p"), "mkv": ("ffv1", "yuv420p"),
          "webm": ("libvpx", "yuv420p")}


def _frame(i: int, bands: bool = False) -> np.ndarray:
    """A 32x48 grey frame of brightness 8 + 9 i; with ``bands``, white and black 8-px bands at left and right."""
    frame = np.full((32, 48, 3), 8 + 9 * i, np.uint8)
    if bands:
        frame[:, :8], frame[:, -8:] = 255, 0
    return frame


def _write(path: Path, suffix: str, bands: bool = False) -> Path:
    codec, pix_fmt = CODECS[suffix]
    path = path.with_suffix(f".{suffix}")
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=RATE)
        stream.width, stream.height, stream.pix_fmt = 48, 32, pix_fmt
        stream.codec_context.gop_size = 4
        for i in range(N):
            for packet in stream.encode(av.VideoFrame.from_ndarray(_frame(i, bands), format="rgb24")):
                out.mux(packet)
        out.mux(stream.encode())
    return path


def _indices(clip: torch.Tensor) -> list[int]:
    """Frame indices of a ``(3, T, H, W)`` clip of :func:`_frame` frames, from their brightness."""
    return ((clip.float().mean(dim=(0, 2, 3)) - 8) / 9).round().int().tolist()


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("videos")
    return {suffix: _write(folder / "ramp", suffix) for suffix in CODECS}


@pytest.mark.parametrize("suffix", sorted(CODECS))
def test_frame_step_and_start_pick_the_right_frames(videos, suffix):
    clip = read_clip(videos[suffix], 4, frame_step=3, start=2)
    assert clip.dtype == torch.uint8 and clip.shape == (3, 4, 32, 48)
    assert _indices(clip) == [2, 5, 8, 11]
    assert _indices(read_clip(videos[suffix], 4, frame_step=2)) == [8, 10, 12, 14]  # centred: 24 - 7 = 17 // 2


@pytest.mark.parametrize("suffix", sorted(CODECS))
def test_keyframe_seek_matches_decoding_forward(videos, suffix, monkeypatch):
    monkeypatch.setattr(video_io, "_SEEK_MIN", 1)
    for start in (5, 13, 22):
        assert _indices(read_clip(videos[suffix], 3, start=start)) == [min(i, N - 1) for i in range(start, start + 3)]


class _Overshooting:
    """A container whose seeks land 5 frames past the target, as with a broken index."""

    def __init__(self, container):
        self.container = container

    def seek(self, offset, **kwargs):
        self.container.seek(offset + 5 if offset else 0, **kwargs)

    def decode(self, stream):
        return self.container.decode(stream)


def test_a_seek_past_the_start_decodes_from_the_beginning(videos, monkeypatch):
    monkeypatch.setattr(video_io, "_SEEK_MIN", 1)
    with av.open(str(videos["avi"])) as container:  # mjpeg: every frame is a keyframe, at pts = index
        indexed = video_io._indexed(_Overshooting(container), container.streams.video[0], 13)
        assert [i for i, _ in indexed] == list(range(N))


def test_random_starts_keep_the_clip_inside_the_video(videos):
    starts = set()
    for seed in range(8):
        idx = _indices(read_clip(videos["mp4"], 4, frame_step=3, rng=np.random.default_rng(seed)))
        assert idx == list(range(idx[0], idx[0] + 10, 3)) and idx[-1] < N
        assert _indices(read_clip(videos["mp4"], 4, frame_step=3, rng=np.random.default_rng(seed))) == idx
        starts.add(idx[0])
    assert len(starts) > 2


def test_short_clips_repeat_the_last_frame_and_say_so(videos, caplog, monkeypatch):
    monkeypatch.setattr(video_io, "_warned_short", set())  # said once per process: start afresh
    with caplog.at_level(logging.WARNING, logger="openjepa"):
        assert _indices(read_clip(videos["avi"], 8, frame_step=4)) == [0, 4, 8, 12, 16, 20, 23, 23]
        assert _indices(read_clip(videos["avi"], 8, frame_step=4)) == [0, 4, 8, 12, 16, 20, 23, 23]
    said = [r.getMessage() for r in caplog.records if "last frame is repeated" in r.getMessage()]
    assert len(said) == 1 and "6 of the 8 frames" in said[0]  # once per clip length, not per clip
    assert _indices(read_clip(videos["avi"], 3, start=30)) == [23, 23, 23]


def test_fps_resamples_by_timestamp(videos):
    assert _indices(read_clip(videos["mp4"], 4, fps=5, start=1)) == [1, 3, 5, 7]
    assert _indices(read_clip(videos["mkv"], 4, fps=2.5, start=0)) == [0, 4, 8, 12]
    assert _indices(read_clip(videos["mp4"], 6, fps=30, start=0)) == [0, 0, 1, 1, 1, 2]
    assert _indices(read_clip(videos["mp4"], 4, fps=1, start=0)) == [0, 10, 20, 23]
    for seed in range(4):
        idx = _indices(read_clip(videos["webm"], 4, fps=2, rng=np.random.default_rng(seed)))
        assert idx == list(range(idx[0], idx[0] + 16, 5))


def test_size_resizes_the_shorter_side_and_crops_the_centre(tmp_path):
    path = _write(tmp_path / "bands", "mkv", bands=True)  # ffv1 is lossless, so the bands stay sharp
    clip = read_clip(path, 2, start=3, size=32)
    assert clip.shape == (3, 2, 32, 32)
    assert (clip[:, 0].int() - (8 + 9 * 3)).abs().max() <= 2 and (clip[:, 1].int() - (8 + 9 * 4)).abs().max() <= 2
    small = read_clip(path, 2, start=3, size=16)
    assert small.shape == (3, 2, 16, 16)
    assert (small[:, 0, :, 2:-2].int() - (8 + 9 * 3)).abs().max() <= 2


def test_probe(videos):
    info = probe(videos["mp4"])
    assert info["frames"] == N and info["fps"] == RATE and (info["width"], info["height"]) == (48, 32)
    assert info["duration"] == pytest.approx(N / RATE) and info["codec"] == "h264"
    assert probe(videos["mkv"])["frames"] == N  # no count in the header: estimated from the duration


def _bad_files(folder: Path, videos) -> dict[str, Path]:
    folder.mkdir(exist_ok=True)
    files = {"random": folder / "random.mp4", "empty": folder / "empty.mp4", "truncated": folder / "truncated.mp4",
             "audio": folder / "audio.mkv", "missing": folder / "missing.mp4"}
    files["random"].write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    files["empty"].write_bytes(b"")
    data = videos["mp4"].read_bytes()
    files["truncated"].write_bytes(data[: len(data) // 2])
    with av.open(str(files["audio"]), "w") as out:
        stream = out.add_stream("pcm_s16le", rate=8000, layout="mono")
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16", layout="mono")
        frame.sample_rate = 8000
        out.mux(stream.encode(frame))
        out.mux(stream.encode())
    return files


def test_unreadable_files_raise_video_read_error_naming_them(tmp_path, videos):
    for kind, path in _bad_files(tmp_path, videos).items():
        for read in (lambda p: read_clip(p, 4), probe):
            with pytest.raises(VideoReadError, match=str(path)) as err:
                read(path)
            assert isinstance(err.value, DataError), kind


def test_missing_pyav_gives_an_install_hint(videos, monkeypatch):
    monkeypatch.setitem(sys.modules, "av", None)
    with pytest.raises(ImportError, match=r"pip install 'openjepa\[video\]'"):
        read_clip(videos["mp4"], 4)


def test_list_class_folders(tmp_path):
    for name in ("b/x.avi", "a/sub/y.mp4", "a/z.MKV", "a/notes.txt", ".hidden/q.mp4", "loose.mp4"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).touch()
    assert list_videos(tmp_path) == [(tmp_path / "a/sub/y.mp4", "a"), (tmp_path / "a/z.MKV", "a"),
                                     (tmp_path / "b/x.avi", "b")]


def test_list_file(tmp_path):
    (tmp_path / "clips").mkdir()
    for name in ("a.mp4", "with space.avi", "c.webm"):
        (tmp_path / "clips" / name).touch()
    listing = tmp_path / "train.csv"
    listing.write_text(f"# path label\n\nclips/a.mp4 cat\nclips/with space.avi,dog\n{tmp_path}/clips/c.webm 3\n")
    assert list_videos(listing) == [(tmp_path / "clips/a.mp4", "cat"), (tmp_path / "clips/with space.avi", "dog"),
                                    (tmp_path / "clips/c.webm", "3")]
    listing.write_text("clips/a.mp4 cat\nclips/gone.mp4 dog\n")
    with pytest.raises(DataError, match=r"train.csv:2: listed video not found: .*gone.mp4"):
        list_videos(listing)
    listing.write_text("clips/a.mp4\n")
    with pytest.raises(DataError, match="expected 'path label'"):
        list_videos(listing)
    listing.write_text("# nothing\n")
    with pytest.raises(DataError, match="lists no videos"):
        list_videos(listing)


def test_list_errors(tmp_path):
    with pytest.raises(DataError, match="not found"):
        list_videos(tmp_path / "nope")
    with pytest.raises(DataError, match="empty"):
        list_videos(tmp_path)
    (tmp_path / "cls").mkdir()
    (tmp_path / "cls" / "a.txt").touch()
    with pytest.raises(DataError, match=r"no videos found .*\.mkv, \.mov, \.mp4, \.webm"):
        list_videos(tmp_path)


@pytest.fixture
def folder(tmp_path, videos) -> Path:
    for name, source in (("cat/0.mp4", videos["mp4"]), ("dog/1.avi", videos["avi"])):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        shutil.copy(source, tmp_path / name)
    (tmp_path / "dog/0_bad.mp4").write_bytes(b"not a video" * 100)
    return tmp_path


def test_video_folder_skips_a_bad_video_with_one_warning(folder, caplog):
    data = VideoFolder(list_videos(folder), 4, frame_step=2, size=16, seed=None)
    assert data.classes == ["cat", "dog"] and len(data) == 3
    clip, label = data[0]
    assert clip.shape == (3, 4, 16, 16) and label == 0 and _indices(clip) == [8, 10, 12, 14]
    with caplog.at_level(logging.WARNING, logger="openjepa"):
        first, again = data[1], data[1]
    assert torch.equal(first[0], again[0]) and first[1] == 1
    assert torch.equal(first[0], read_clip(folder / "dog/1.avi", 4, frame_step=2, size=16))
    assert len(caplog.messages) == 1 and "0_bad.mp4" in caplog.messages[0]


def test_video_folder_stop_raises(folder):
    data = VideoFolder(list_videos(folder), 4, on_error="stop")
    assert data[0][1] == 0
    with pytest.raises(VideoReadError, match="0_bad.mp4"):
        data[1]
    with pytest.raises(VideoReadError, match="none of the 1 videos"):
        VideoFolder([(folder / "dog/0_bad.mp4", "dog")], 4)[0]


def test_video_folder_random_starts_follow_seed_and_epoch(folder):
    data = VideoFolder(list_videos(folder), 4, frame_step=3, seed=1)
    starts = [_indices(data[0][0])[0] for _ in range(2)]
    for epoch in range(1, 4):
        data.set_epoch(epoch)
        starts.append(_indices(data[0][0])[0])
    assert starts[0] == starts[1] and len(set(starts)) > 1
    assert VideoFolder([("a", "10"), ("b", "2"), ("c", "0")], 1).classes == ["0", "2", "10"]


def test_test_views_read_evenly_spaced_clips(folder):
    from openjepa.data.video_folder import VideoClips

    videos = [(folder / "cat/0.mp4", "cat")]
    split = VideoClips(videos, ["cat"], frames=4, frame_step=2, fps=None, size=16, skip_corrupt=False, seed=None)
    assert _indices(split[0][0]) == [8, 10, 12, 14]  # centred: 24 frames, a clip spans 7, starts at 17 // 2
    starts = [_indices(view[0][0])[0] for view in split.views(3)]
    assert starts == [int(17 * (k + 0.5) / 3) for k in range(3)] == [2, 8, 14]
    assert [_indices(view.subset([0])[0][0])[0] for view in split.views(2)] == [4, 12]  # subsets keep the view
    assert _indices(split.views(1)[0][0][0]) == _indices(split[0][0])
    with pytest.raises(ValueError, match="count"):
        split.views(0)
    with pytest.raises(ValueError, match="position"):
        read_clip(folder / "cat/0.mp4", 4, position=1.5)


@pytest.mark.skipif(not VTEST.is_file(), reason=f"{VTEST} (opencv-doc) not installed")
def test_vtest_avi(monkeypatch):
    assert read_clip(VTEST, 8, size=64).shape == (3, 8, 64, 64)
    seeked = read_clip(VTEST, 2, frame_step=4, start=600)  # msmpeg4 with keyframes every 250 frames
    monkeypatch.setattr(video_io, "_SEEK_MIN", 10**6)
    assert torch.equal(seeked, read_clip(VTEST, 2, frame_step=4, start=600))
