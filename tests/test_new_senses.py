"""Sounds and point clouds as users bring them: class folders of WAV/FLAC files at several rates and channel counts,
and of PLY/OFF/OBJ/STL/NPY files, trained, evaluated and embedded through the CLI; the point-cloud masks and the
context-aware decoder."""

import json

import numpy as np
import pytest
import torch
from cli_process import run_cli

from openjepa.masks.multiblock import collate_block_masks
from openjepa.masks.point_regions import PointMaskConfig, sequence_ranges, spatial_blocks
from openjepa.masks.random_tokens import RandomTokensConfig, RandomTokensMasker
from openjepa.nn.context_decoder import ContextAwarePredictor
from openjepa.nn.predictor import PredictorConfig

sf = pytest.importorskip("soundfile")
trimesh = pytest.importorskip("trimesh")

TINY_ENCODER = ["encoder.width=32", "encoder.depth=1", "encoder.heads=2", "method.predictor.width=16",
                "method.predictor.depth=1", "method.predictor.heads=2", "train.batch_size=8", "train.precision=fp32",
                "optim.warmup_steps=1", "eval.lowshot_per_class=2", "eval.lowshot_repeats=1", "eval.knn_k=3",
                "method.projector.hidden=16", "method.projector.out=8", "method.sigreg.slices=16"]
TINY_AUDIO = [*TINY_ENCODER, "data.seconds=0.5", "data.n_mels=32", "data.frames=32", "data.hop_length=250"]
TINY_POINTS = [*TINY_ENCODER, "data.points=128", "data.groups=16", "data.group_size=8", "data.point_net=[8,16,32]"]


def _cli(*args):
    done = run_cli([str(a) for a in args], timeout=600)
    assert done.code == 0, done.err[-3000:]
    return done


def _sound(kind: str, rate: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(int(rate * rng.uniform(0.3, 0.7))) / rate
    if kind == "low":
        wave = np.sin(2 * np.pi * rng.uniform(200, 300) * t)
    elif kind == "high":
        wave = np.sin(2 * np.pi * rng.uniform(2000, 3000) * t)
    else:  # a chirp going up
        wave = np.sin(2 * np.pi * (300 + 2500 * t / t[-1]) * t)
    return 0.3 * wave + 0.01 * rng.normal(size=len(t))


def _sound_folder(root, per_class=8):
    rng = np.random.default_rng(0)
    rates, formats = (8000, 16000, 22050, 44100), ("WAV", "FLAC")
    for c in ("chirp", "high", "low"):
        (root / c).mkdir(parents=True)
        for i in range(per_class):
            wave = _sound(c, rates[i % 4], rng)
            data = wave if i % 3 else np.stack([wave, 0.5 * wave], axis=1)
            fmt = formats[i % 2]
            sf.write(root / c / f"{i}.{fmt.lower()}", data, rates[i % 4], format=fmt, subtype="PCM_16")


def test_an_audio_run_on_a_sound_folder_trains_evaluates_and_embeds(tmp_path):
    data, run = tmp_path / "sounds", tmp_path / "run"
    _sound_folder(data)
    _cli("train", "audiojepa_tiny", "--out", run, "--data", data, "--steps", 3, "--quiet", "train.stop_at=2",
         *TINY_AUDIO)
    _cli("train", "--resume", run, "--quiet")  # the front end in the input spec reads back equal
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 3
    spec = (run / "config.yaml").read_text()
    assert "modality: audio" in spec and "sample_rate: 16000" in spec
    out = _cli("eval", run).out
    assert "raw log-mel" in out and "MFCC" in out
    results = json.loads((run / "eval.json").read_text())
    for probe in ("linear", "knn"):
        assert set(results[probe]) == {"trained", "random_init", "raw_input", "mfcc"}
        assert all(0 <= v <= 1 for v in results[probe].values())
    assert results["linear"]["mfcc"] > 0.6  # three tone classes: the cepstrum reads them
    assert (run / "plots" / "masked_spectrogram.png").stat().st_size > 10_000
    clip = next((data / "low").glob("*.flac"))
    _cli("embed", run, clip, data / "high" / "0.wav", "--out", tmp_path / "e.npy")
    assert np.load(tmp_path / "e.npy").shape == (2, 32)
    same = float(_cli("similarity", run, clip, clip).out.split()[-1])
    assert same > 0.999
    assert _cli("classify", run, clip).out.split()[1] in ("chirp", "high", "low")


def _point_folder(root, per_class=8):
    rng = np.random.default_rng(0)
    makers = {"box": lambda: trimesh.creation.box(extents=rng.uniform(0.5, 2, 3)),
              "ball": lambda: trimesh.creation.icosphere(subdivisions=2, radius=rng.uniform(0.5, 2)),
              "rod": lambda: trimesh.creation.cylinder(radius=0.1, height=rng.uniform(2, 4))}
    for name, make in makers.items():
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            mesh = make()
            mesh.apply_transform(trimesh.transformations.random_rotation_matrix(rng.random(3)))
            suffix = (".ply", ".off", ".obj", ".stl", ".npy")[i % 5]
            if suffix == ".npy":
                np.save(root / name / f"{i}.npy", mesh.sample(300, seed=i).astype(np.float32))
            else:
                mesh.export(root / name / f"{i}{suffix}")


@pytest.mark.parametrize("recipe", ["pointjepa_tiny", "jepa3d_tiny"])
def test_a_point_run_on_a_mesh_folder_trains_evaluates_and_embeds(tmp_path, recipe):
    data, run = tmp_path / "shapes", tmp_path / "run"
    _point_folder(data)
    _cli("train", recipe, "--out", run, "--data", data, "--steps", 3, "--quiet", *TINY_POINTS)
    out = _cli("eval", run).out
    assert "linear SVM" in out and "occupancy" in out
    results = json.loads((run / "eval.json").read_text())
    for probe in ("linear", "knn", "svm"):
        assert set(results[probe]) == {"trained", "random_init", "raw_input"}
    assert (run / "plots" / "point_masks.png").stat().st_size > 10_000
    _cli("embed", run, next((data / "box").glob("*.off")), next((data / "rod").glob("*.npy")),
         "--out", tmp_path / "e.npy")
    assert np.load(tmp_path / "e.npy").shape == (2, 32)
    query = next((data / "ball").glob("*.ply"))
    found = _cli("search", run, query, "--in", data, "-k", 3).out.splitlines()
    assert len(found) == 3 and found[0].split("\t")[0] == str(query)  # the query itself is nearest


def _centres(n=32, seed=0):
    return torch.randn(n, 3, generator=torch.Generator().manual_seed(seed))


def test_sequence_ranges_are_contiguous_and_drawn_per_sample():
    cfg = PointMaskConfig(kind="sequence")
    gen = torch.Generator().manual_seed(0)
    draws = [sequence_ranges(64, cfg, gen) for _ in range(16)]
    for d in draws:
        assert len(d.targets) == 4 and all(len(t) in range(9, 14) for t in d.targets)  # 15-20 % of 64
        assert all((np.diff(t) == 1).all() for t in d.targets)
        assert not set(d.context) & set(np.concatenate(d.targets))
    # the reference draws ranges and ratios once per batch; here every sample has its own
    assert len({tuple(d.targets[0]) for d in draws}) > 8
    assert len({len(d.context) for d in draws}) > 3


def test_spatial_blocks_are_neighbourhoods_and_the_context_avoids_them():
    cfg = PointMaskConfig(kind="blocks", context_scale=(0.85, 1.0))
    centres = _centres(64)
    d = spatial_blocks(centres, cfg, torch.Generator().manual_seed(1))
    distances = torch.cdist(centres, centres)
    for t in d.targets:
        first = t[0]  # the block's own group: its members are the groups nearest it
        inside = distances[first, t].max()
        outside = distances[first, np.setdiff1d(np.arange(64), t)].min()
        assert inside <= outside
    assert len(d.context) >= cfg.min_context and not set(d.context) & set(np.concatenate(d.targets))
    batch = collate_block_masks([d, spatial_blocks(centres, cfg, torch.Generator().manual_seed(2))])
    assert batch["tgt_idx"].shape[:2] == (2, 4) and batch["ctx_valid"].any(1).all()


def test_random_token_masks_hide_a_drawn_share():
    masker = RandomTokensMasker(RandomTokensConfig(ratio=(0.4, 0.6)), (8, 8))
    shares = []
    for i in range(20):
        d = masker(0, 0, i)
        assert sorted(np.concatenate([d.context, d.targets[0]]).tolist()) == list(range(64))
        shares.append(len(d.targets[0]) / 64)
    assert 0.39 <= min(shares) < max(shares) <= 0.61
    assert (masker(0, 0, 3).targets[0] == masker(0, 0, 3).targets[0]).all()


def test_the_context_aware_decoder_reads_the_context_in_every_layer():
    torch.manual_seed(0)
    decoder = ContextAwarePredictor(PredictorConfig(width=16, depth=3, heads=2), enc_dim=24)
    ctx, positions = torch.randn(2, 5, 24), torch.randn(2, 12, 16)
    ctx_idx, tgt_idx = torch.arange(5).expand(2, -1), torch.arange(5, 11).reshape(1, 2, 3).expand(2, -1, -1)
    out = decoder(ctx, ctx_idx, tgt_idx, positions=positions)
    assert out.shape == (2, 2, 3, 24)
    # every layer's context map is used: each gets a gradient
    out.square().sum().backward()
    assert all(m.weight.grad.abs().sum() > 0 for m in decoder.context_maps)
    # the two target blocks are predicted independently: changing block 1's positions leaves block 0 alone
    moved = positions.clone()
    moved[:, 8:11] += torch.randn(2, 3, 16)
    again = decoder(ctx, ctx_idx, tgt_idx, positions=moved)
    assert torch.allclose(again[:, 0], out[:, 0], atol=1e-6) and not torch.allclose(again[:, 1], out[:, 1])



def test_point_views_are_rotations_stretches_and_jitter():
    from openjepa.data.point_views import PointViewConfig, random_point_view, random_rotations

    gen = torch.Generator().manual_seed(0)
    rotations = random_rotations(500, "so3", gen)
    assert torch.allclose(rotations @ rotations.transpose(1, 2), torch.eye(3).expand(500, -1, -1), atol=1e-5)
    assert torch.allclose(torch.det(rotations), torch.ones(500), atol=1e-5)
    assert rotations[:, :, 0].mean(0).abs().max() < 0.1  # spread over the sphere, not near one direction
    about_z = random_rotations(10, "z", gen)
    assert torch.allclose(about_z[:, 2], torch.tensor([0.0, 0.0, 1.0]).expand(10, -1))
    clouds = torch.randn(4, 3, 50, generator=gen)
    rigid = random_point_view(clouds, PointViewConfig(scale=(1.0, 1.0), jitter=0.0), gen)
    assert rigid.shape == clouds.shape and not torch.allclose(rigid, clouds)

    def distances(c):
        return (c[:, :, :, None] - c[:, :, None, :]).norm(dim=1)

    assert torch.allclose(distances(rigid), distances(clouds), atol=1e-4)


def test_spectrogram_images_and_mfcc_match_their_references():
    import scipy.fft

    from openjepa.data.spectrograms import front_end, mfcc_features, spectrogram_images

    settings = {"sample_rate": 16000, "n_fft": 512, "win_length": 400, "hop_length": 250, "n_mels": 64, "fmin": 0.0,
                "fmax": None, "frames": 64}
    rng = np.random.default_rng(0)
    t = np.arange(16000) / 16000
    waves = torch.from_numpy(np.stack([np.sin(2 * np.pi * f * t) * np.exp(-3 * t) + 0.01 * rng.normal(size=16000)
                                       for f in (300.0, 1200.0, 4000.0)])).float()
    images = spectrogram_images(waves, front_end(settings))
    assert images.shape == (3, 1, 64, 64) and images.dtype == torch.uint8
    # librosa's power_to_db(S, ref=np.max, top_db=80) of the same mel power, scaled to 0-255
    mel = front_end(settings)
    db = mel(waves.double()).numpy()
    db = np.maximum(db - db.max(axis=(1, 2), keepdims=True), -80.0)
    expected = np.round((db + 80.0) * 255 / 80)
    assert np.abs(images[:, 0].numpy().astype(float) - expected).max() <= 1
    cepstra = scipy.fft.dct(images[:, 0].double().numpy(), type=2, norm="ortho", axis=1)[:, :20]
    reference = np.concatenate([cepstra.mean(-1), cepstra.std(-1, ddof=1)], axis=1)
    assert np.allclose(mfcc_features(images, 20).numpy(), reference, rtol=1e-4, atol=1e-3)
