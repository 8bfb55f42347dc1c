"""Video runs end to end: train, evaluate, embed (with the predictor) and score surprise, through the CLI on a
folder of real video files, and through the API on the built-in sprites."""

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from cli_process import run_cli
from conftest import TINY_VIDEO

av = pytest.importorskip("av")

from openjepa.data.sprites import load_sprites, make_physics_quads  # noqa: E402
from openjepa.eval.surprise import physics_report, surprise_run  # noqa: E402
from openjepa.eval.tasks.video_probes import evaluate_clips  # noqa: E402
from openjepa.runs.build import load_trained_method, random_init_method  # noqa: E402
from openjepa.runs.config import build_config, recipe_dict  # noqa: E402
from openjepa.runs.files import load_run_config  # noqa: E402
from openjepa.runs.metrics import read_metrics  # noqa: E402
from openjepa.train.loop import fit  # noqa: E402


def _write_video(path: Path, seed: int, frames: int = 10, size: int = 24) -> None:
    """An MJPEG .avi of a bright square drifting right (class 'right') or left."""
    rng = np.random.default_rng(seed)
    step = 1 if "right" in path.parent.name else -1
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mjpeg", rate=10)
        stream.width = stream.height = size
        stream.pix_fmt = "yuvj420p"
        x0 = int(rng.integers(6, size - 12))
        for t in range(frames):
            img = np.full((size, size, 3), int(rng.integers(20, 60)), dtype=np.uint8)
            x = x0 + step * t // 2
            img[8:14, x : x + 6] = 230
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


@pytest.fixture(scope="module")
def video_folder(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("videos")
    for label in ("left", "right"):
        for i in range(6):
            _write_video(root / label / f"{label}{i}.avi", seed=i)
    return root


def _run(*args):
    """The command in a child process, as a user runs it (forked: the imports are paid once)."""
    done = run_cli([str(a) for a in args], timeout=600)
    if done.code != 0:
        raise AssertionError(f"openjepa {' '.join(map(str, args))} failed:\n{done.err}")
    return SimpleNamespace(stdout=done.out, stderr=done.err)


def test_vjepa_on_a_users_video_folder(tmp_path, video_folder):
    run = tmp_path / "run"
    out = _run("train", "vjepa2_tiny", "--out", run, "--data", video_folder, "--steps", 2, "--quiet", *TINY_VIDEO)
    assert "openjepa eval" in out.stdout
    out = _run("eval", run).stdout
    assert "attentive probe" in out and "first frame held still" in out
    results = json.loads((run / "eval.json").read_text())
    assert set(results["attentive"]) == {"trained", "random_init", "single_frame"}
    assert results["meta"]["label"] == "class" and results["dense"] == {}
    assert results["meta"]["clips_per_test_video"] == 2
    assert results["meta"]["encoder"] == "context" and results["meta"]["target_lag"] > 0.9  # 2 steps of EMA
    assert results["meta"]["probe_flips"] == "none" and results["meta"]["tokens"] == "clip"
    out = _run("eval", run, "eval.probe_flips=horizontal", "eval.tokens=step", "eval.attentive_epochs=2",
               "--out", tmp_path / "flips.json").stdout
    assert "each time step encoded on its own" in out
    flips = json.loads((tmp_path / "flips.json").read_text())["meta"]
    assert flips["probe_flips"] == "horizontal" and flips["probe_views_per_clip"] == 2 and flips["tokens"] == "step"
    with pytest.raises(AssertionError, match=r"eval\.\* settings only"):
        _run("eval", run, "train.steps=3")
    videos = sorted(video_folder.glob("*/*.avi"))[:3]
    _run("embed", run, *videos, "--out", tmp_path / "f.npy")
    assert np.load(tmp_path / "f.npy").shape == (3, 32)
    _run("embed", run, *videos, "--out", tmp_path / "s.npy", "--per-step", "--tokens")
    assert np.load(tmp_path / "s.npy").shape == (3, 32, 32)
    _run("embed", run, *videos[:2], "--out", tmp_path / "p.npz", "--predictor", "--context-steps", 1)
    saved = np.load(tmp_path / "p.npz")
    assert saved["features"].shape == (2, 32, 32) and saved["predicted"].shape == (2, 16, 32)
    assert np.array_equal(saved["target"], np.arange(16, 32))
    _run("surprise", run, "--data", video_folder, "--out", tmp_path / "s.json")
    scored = json.loads((tmp_path / "s.json").read_text())["clips"]
    assert len(scored) == 12 and all(len(c["per_step"]) == 1 and c["surprise"] > 0 for c in scored)


def test_fit_predictor_trains_the_predictor_alone_into_a_new_run(tmp_path, video_folder):
    run, fitted = tmp_path / "run", tmp_path / "fitted"
    # all clips in training (no test split): fitting needs neither labels nor a test split
    _run("train", "vjepa_tiny", "--out", run, "--data", video_folder, "--steps", 2, "--quiet", *TINY_VIDEO,
         "data.test_fraction=0.0")
    out = _run("fit-predictor", run, "--out", fitted, "--steps", 3, "--batch-size", 8).stdout
    assert "openjepa surprise" in out
    (_, before), (_, after) = load_trained_method(run), load_trained_method(fitted)
    before, after = before.state_dict(), after.state_dict()
    assert before.keys() == after.keys()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(k.startswith("predictor.") for k in changed)
    # a run of the one training loop: its config says where it started and what trained
    cfg = load_run_config(fitted)
    assert (cfg.init.run, cfg.init.what, cfg.train.trainable) == (str(run), "all", ["predictor"])
    assert cfg.method.objective == "future" and cfg.method.target.mode == "frozen" and cfg.train.steps == 3
    assert [r["step"] for r in read_metrics(fitted / "metrics.jsonl")] == [1, 2, 3]
    _run("surprise", fitted, "--data", video_folder, "--out", tmp_path / "s.json")
    # built-in quadruplets at the run's clip shape; vjepa_tiny predicts change, so its random init is no blank baseline
    proc = _run("surprise", fitted, "--out", tmp_path / "q.json", "--quadruplets", 4)
    assert "no blank baseline" in proc.stderr and json.loads((tmp_path / "q.json").read_text())["predict_change"]
    with pytest.raises(AssertionError, match="already holds a run") as err:
        _run("fit-predictor", run, "--out", fitted, "--steps", 1)
    assert "Traceback" not in str(err.value)


def test_a_corrupt_video_stops_or_is_skipped_as_configured(tmp_path, video_folder):
    import shutil

    data = tmp_path / "videos"
    shutil.copytree(video_folder, data)
    (data / "left" / "broken.avi").write_bytes(b"RIFF" + bytes(range(200)))
    run = tmp_path / "run"
    with pytest.raises(AssertionError) as err:
        _run("train", "vjepa_tiny", "--out", run, "--data", data, "--steps", 2, "--quiet", *TINY_VIDEO,
             "data.test_fraction=0.0", "data.skip_corrupt=false")
    assert "broken.avi" in str(err.value) and "Traceback" not in str(err.value)
    _run("train", "vjepa_tiny", "--out", tmp_path / "run2", "--data", data, "--steps", 2, "--quiet", *TINY_VIDEO,
         "data.skip_corrupt=true")


def test_sprites_evaluation_and_physics_pairs_through_the_api(tmp_path, monkeypatch):
    data = load_sprites(train_size=48, test_size=24, frames=4, size=16)
    cfg = build_config(recipe_dict("vjepa21_tiny"), TINY_VIDEO + ["method.deep_layers=[1]", "eval.probe_flips=dihedral",
                                                                   "eval.probe_seeds=2", "eval.attentive_warmups=[0, 0.2]"])
    run = fit(cfg, tmp_path / "run", progress=False, data=data)
    cfg, trained = load_trained_method(run)
    monkeypatch.setattr("openjepa.eval.tasks.video_probes.DENSE_CLIPS", 40)
    results = evaluate_clips(cfg, trained, random_init_method(cfg), data, device="cpu")
    assert results["meta"]["label"] == "direction" and results["meta"]["classes"] == 8
    assert results["meta"]["train_clips"] == 48 and results["meta"]["dense_train_clips"] == 40
    assert results["meta"]["probe_flips"] == "dihedral" and results["meta"]["probe_views_per_clip"] == 8
    for name, accs in results["attentive_seeds"].items():
        assert len(accs) == 2 and results["attentive"][name] == pytest.approx(sum(accs) / 2)
        assert len(results["attentive_warmup"][name]) == 2 and set(results["attentive_warmup"][name]) <= {0.0, 0.2}
    for probe in ("dense", "dense_motion"):
        assert set(results[probe]) == {"trained", "random_init"} and all(-1 < v <= 1 for v in results[probe].values())
    possible, impossible, kinds = make_physics_quads(6, seed=0, frames=4, size=16)
    report = physics_report(trained, possible, impossible, kinds)
    assert 0 <= report["pairwise_accuracy"] <= 1 and set(report["per_kind"]) == {"vanish", "teleport", "wall"}
    assert report["quadruplets"] == 6
    report = surprise_run(run, quadruplets=4)
    assert report["quadruplets"] == 4 and report["predict_change"] is False and "random_init" in report
