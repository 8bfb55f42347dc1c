"""ThinkJEPA: the goal agents (the goal shows in the earliest frames only), per-sample FiLM guidance that starts as
the identity, the causal forecaster, the method's settings checked against the data, and train -> eval on the
command line, also on another run's frozen encoder."""

import json

import numpy as np
import pytest
import torch
from conftest import TINY_VIDEO

from openjepa.cli import main
from openjepa.core.errors import ConfigError
from openjepa.data.goal_agents import CUE, MARKER, make_goal_agents
from openjepa.modalities.registry import load_data
from openjepa.nn.forecaster import CausalForecaster, ForecasterConfig
from openjepa.runs.build import build_method, load_trained_method
from openjepa.runs.config import build_config, recipe_dict
from openjepa.runs.prepare import fill_spec

DATA = ["data.train_size=32", "data.test_size=8", "data.image_size=16"]
PARTS = ["method.thinker.encoder.width=16", "method.thinker.encoder.heads=2", "method.thinker.encoder.depth=1",
         "method.thinker.width=16", "method.predictor.width=16", "method.predictor.depth=1", "method.predictor.heads=2",
         "train.batch_size=8", "train.precision=fp32", "eval.shown=2"]
SMALL = [*DATA, "encoder.width=16", "encoder.heads=2", "encoder.depth=1", *PARTS]


def cli(*args, code=0):
    with pytest.raises(SystemExit) as done:
        main([str(a) for a in args])
    assert done.value.code == code


def _near(clip: np.ndarray, colour: np.ndarray) -> np.ndarray:
    """Per frame: whether some pixel of ``clip (3, T, H, W)`` has ``colour``."""
    return (np.abs(clip.astype(float) - colour[:, None, None, None]).max(0) < 20).any((1, 2))


def test_goal_agents_show_the_goal_in_the_earliest_frames_only_and_walk_blind_to_it():
    data = make_goal_agents(64, observed=10, horizon=5, goals=4, cue_frames=2, size=32, seed=3)
    clip, extra = data[7]
    assert clip.shape == (3, 15, 32, 32) and clip.dtype == torch.uint8 and extra["positions"].shape == (15, 2)
    assert _near(clip.numpy(), CUE).tolist() == [True, True] + [False] * 13  # the cue, then markers all alike
    assert _near(clip.numpy(), MARKER).all()
    assert torch.equal(clip, make_goal_agents(64, 10, 5, 4, 2, 32, seed=3)[7][0])
    target = torch.from_numpy(data.markers[np.arange(64), data.goal])
    last = data.positions[:, -1] - data.positions[:, -2]  # the horizon ends heading to the goal
    assert (torch.nn.functional.cosine_similarity(last, target - data.positions[:, -2], dim=-1) > 0.7).all()
    heading = data.positions[:, 9] - data.positions[:, 8]  # the last seen step says nothing of the goal
    toward = torch.nn.functional.cosine_similarity(heading, target - data.positions[:, 9], dim=-1)
    assert abs(float(toward.mean())) < 0.25


def _forecaster(guided: bool) -> CausalForecaster:
    torch.manual_seed(0)
    return CausalForecaster(ForecasterConfig(width=16, depth=2, heads=2), 6, 12, guidance_dim=5 if guided else 0)


def test_film_guidance_starts_as_the_identity_learns_and_is_per_sample():
    plain, guided = _forecaster(False), _forecaster(True)
    guided.load_state_dict(plain.state_dict(), strict=False)
    latents, times, future = torch.randn(2, 4, 6), torch.arange(2, 6), torch.arange(6, 9)
    cond = torch.randn(2, 5)
    for a, b in zip(plain(latents, times, future), guided(latents, times, future, cond)):
        assert torch.allclose(a, b, atol=1e-6)  # the gates start at 0
    guided(latents, times, future, cond)[0].sum().backward()
    assert guided.guidance.gates.grad.abs().min() > 0  # and learn (zero maps would leave them no gradient)
    with torch.no_grad():
        guided.guidance.gates.fill_(0.5)
    same = latents[:1].expand(2, -1, -1)
    apart = guided(same, times, future, cond)[0]
    assert not torch.allclose(apart[0], apart[1], atol=1e-4)  # one dense input, two conditions: two forecasts
    alone = guided(same[:1], times, future, cond[1:])[0]
    assert torch.allclose(alone[0], apart[1], atol=1e-5)  # each sample's guidance is its own
    with pytest.raises(ValueError, match="one per sample"):
        guided(latents, times, future, cond[0])


def test_the_forecaster_is_causal_in_time():
    model = _forecaster(True)
    with torch.no_grad():
        model.guidance.gates.fill_(0.5)
    latents, cond = torch.randn(1, 4, 6), torch.randn(1, 5)
    times, future = torch.tensor([0, 3, 5, 6]), torch.arange(7, 10)
    where, ahead = model(latents, times, future, cond)
    changed = latents.clone()
    changed[:, 2] += 1.0
    where2, ahead2 = model(changed, times, future, cond)
    assert torch.allclose(where[:, :2], where2[:, :2], atol=1e-6)
    assert not torch.allclose(where[:, 2:], where2[:, 2:]) and not torch.allclose(ahead, ahead2)
    with pytest.raises(ValueError, match="increasing"):
        model(latents, torch.tensor([0, 3, 5, 9]), future, cond)


@pytest.mark.parametrize(("setting", "message"), [
    ("method.thinker.frames=20", r"method.thinker.frames=20 exceeds the 16 observed frames"),
    ("method.dense_window=17", r"method.dense_window=17 exceeds the 16 observed frames"),
    ("method.dense_window=15", r"method.dense_window=15 reaches the first 2 frames, which alone show the goal"),
    ("data.cue_frames=16", r"data.cue_frames \(16\) must be fewer than data.observed"),
    ("method.thinker.source=run", r"method.thinker.run \(a run or HF folder\) is needed exactly when"),
])
def test_bad_settings_are_refused_in_one_line(setting, message):
    with pytest.raises(ConfigError, match=message) as err:
        cfg = build_config(recipe_dict("thinkjepa_tiny"), [*SMALL, setting])
        build_method(fill_spec(cfg, load_data(cfg.data)))
    assert "\n" not in str(err.value)


def test_the_thinker_reads_frames_over_the_whole_history_and_guides_each_sample():
    cfg = build_config(recipe_dict("thinkjepa_tiny"), SMALL)
    data = load_data(cfg.data)
    torch.manual_seed(0)
    model = build_method(fill_spec(cfg, data)).eval()
    assert model.thinker_times.tolist() == [0, 5, 10, 15] and model.window_times.tolist() == list(range(8, 16))
    clips = torch.stack([data.train[i][0] for i in range(2)]).float() / 255
    swapped = clips.clone()
    swapped[:, :, :2] = clips.flip(0)[:, :, :2]  # the cue frames of the other sample: only the thinker sees them
    dense = model.latents(model.encoder, clips, model.window_times)
    assert torch.equal(dense, model.latents(model.encoder, swapped, model.window_times))
    pooled = [model.pool(model.latents(model.thinker, c, model.thinker_times).flatten(1)) for c in (clips, swapped)]
    assert not torch.allclose(pooled[0], pooled[1])
    assert not model.encoder.training and not any(p.requires_grad for p in model.encoder.parameters())


def test_thinkjepa_trains_and_reports_ade_and_fde_beside_its_ablations(tmp_path):
    run = tmp_path / "run"
    cli("train", "thinkjepa_tiny", "--out", run, "--steps", 3, "--quiet", *SMALL)
    cli("eval", run)
    results = json.loads((run / "eval.json").read_text())
    for key in ("ade", "fde"):
        assert set(results[key]) == {"trained", "dense_only", "thinker_only", "constant_velocity"}
        assert all(0 < value < 2 for value in results[key].values())
    assert results["meta"]["horizon"] == 8 and (run / "plots" / "forecasts.png").is_file()
    assert "dense only" in (run / "report.md").read_text()


def test_a_video_runs_encoder_is_the_frozen_dense_stream(tmp_path):
    cli("train", "vjepa_tiny", "--out", tmp_path / "video", "--steps", 1, "--quiet", *TINY_VIDEO,
        "data.train_size=16")
    cli("train", "thinkjepa_tiny", "--out", tmp_path / "think", "--encoder", tmp_path / "video", "--steps", 2,
        "--quiet", *DATA, *PARTS, "method.thinker.source=encoder")
    source_cfg, source = load_trained_method(tmp_path / "video")
    cfg, model = load_trained_method(tmp_path / "think")
    assert cfg.encoder == source_cfg.encoder and model.encoder.reads_clips and model.thinker is None
    for k, v in source.eval_encoder(source_cfg.eval.encoder).state_dict().items():
        assert torch.equal(model.encoder.state_dict()[k], v), k  # taken, and left as it was by training
    clips = torch.rand(2, 3, 24, 16, 16)
    assert model.forecast(clips)["trained"].shape == (2, 8, 2)


def test_another_runs_encoder_is_the_frozen_thinker(tmp_path):
    cli("train", "vjepa_tiny", "--out", tmp_path / "video", "--steps", 1, "--quiet", *TINY_VIDEO,
        "data.train_size=16")
    cli("train", "thinkjepa_tiny", "--out", tmp_path / "think", "--steps", 2, "--quiet", *SMALL,
        "method.thinker.source=run", f"method.thinker.run={tmp_path / 'video'}")
    source_cfg, source = load_trained_method(tmp_path / "video")
    cfg, model = load_trained_method(tmp_path / "think")
    thinker = cfg.method.thinker
    assert thinker.encoder == source_cfg.encoder and thinker.spec == source_cfg.spec and model.thinker.reads_clips
    assert (thinker.mean, thinker.std) == (source_cfg.data.mean, source_cfg.data.std)
    assert model.thinker_normalize.mean.tolist() == pytest.approx(source_cfg.data.mean)
    for k, v in source.eval_encoder(source_cfg.eval.encoder).state_dict().items():
        assert torch.equal(model.thinker.state_dict()[k], v), k  # taken, and left as it was by training
    assert not model.encoder.reads_clips  # the dense stream is still the run's own encoder
    cli("train", "thinkjepa_tiny", "--out", tmp_path / "missing", "--steps", 1, "--quiet", *SMALL,
        "method.thinker.source=run", f"method.thinker.run={tmp_path / 'nothing'}", code=2)
    assert not (tmp_path / "missing").exists()
