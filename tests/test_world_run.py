"""World models end to end through the CLI: collect -> train -> eval -> plan, resume, and bad inputs."""

import json

import numpy as np
import pytest
from PIL import Image

from openjepa.cli import main
from openjepa.data.trajectories.store import TrajectoryStore
from openjepa.runs.metrics import read_metrics

SMALL = ["train.batch_size=8", "data.frames=3", "data.frame_step=2", "train.checkpoint_every=2",
         "encoder.width=32", "encoder.depth=1", "encoder.heads=2", "method.predictor.width=32",
         "method.predictor.depth=1", "method.projector.hidden=64", "method.projector.out=16", "train.precision=fp32",
         "train.log_every=1"]
TINY_CEM = '{"samples": 16, "elites": 4, "iterations": 2}'


def cli(*args, code=0):
    """Run ``openjepa ARGS`` in this process; it must exit with ``code``."""
    with pytest.raises(SystemExit) as done:
        main([str(a) for a in args])
    assert done.value.code == code


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    path = tmp_path_factory.mktemp("world") / "store"
    cli("collect", "tworoom", "--episodes", "12", "--max-steps", "40", "--policy", "noisy_expert", "--out",
          str(path), "--quiet")
    return path


def train(store, out, *extra):
    cli("train", "lewm_tworoom_tiny", "--data", store, "--out", out, "--quiet", *extra, *SMALL)


def test_collect_train_eval_plan(store, tmp_path, capsys):
    run = tmp_path / "run"
    train(store, run, "--steps", "4")
    cli("eval", str(run))
    results = json.loads((run / "eval.json").read_text())
    for key in ("position_r2", "position_r2_encoder"):
        assert set(results[key]) == {"trained", "random_init"}
        assert all(-1 < v <= 1 for v in results[key].values())
    assert results["position_r2"] != results["position_r2_encoder"]
    report_lines = (run / "report.md").read_text().splitlines()
    assert any(line.split() == ["state", "R^2", "latents", "encoder"] for line in report_lines)
    cli("plan", str(run), "--episodes", "2", "--planner-args", TINY_CEM, "--max-steps", "12", "--quiet")
    report = json.loads((run / "plan.json").read_text())
    for key in ("success_rate", "random_success_rate", "expert_success_rate", "straight_line_success_rate",
                "mean_plan_seconds", "episodes"):
        assert key in report
    assert report["episodes"] == 2 and report["mean_plan_seconds"] > 0
    assert report["plan"]["planner_args"] == json.loads(TINY_CEM)
    assert (run / "plots" / "plan_episodes.png").stat().st_size > 0
    assert (run / "plots" / "energy_landscape.png").stat().st_size > 0
    cli("plan", str(run), "--episodes", "1", "--planner", "mppi", "--planner-args",
          '{"samples": 16, "iterations": 2}', "--max-steps", "8", "--out", str(tmp_path / "mppi.json"), "--quiet")
    cli("plan", str(run), "--episodes", "1", "--planner", "grad", "--planner-args",
          '{"samples": 2, "iterations": 2}', "--max-steps", "8", "--out", str(tmp_path / "grad.json"), "--quiet")
    assert json.loads((tmp_path / "grad.json").read_text())["plan"]["planner"] == "grad"
    cli("plan", str(run), "--episodes", "1", "--planner", "cemm", "--quiet", code=2)
    assert "did you mean 'cem'" in capsys.readouterr().err
    # the run's encoder embeds frames saved as images
    frame = TrajectoryStore(store).frames[0]
    Image.fromarray(np.asarray(frame)).save(tmp_path / "frame.png")
    cli("embed", str(run), str(tmp_path / "frame.png"), "--out", str(tmp_path / "frame.npy"))
    assert np.load(tmp_path / "frame.npy").shape == (1, 32)  # encoder.width=32
    # energies of transitions: held-out true against shuffled next frames, and one (frame, actions, next frame)
    cli("energy", str(run), "--pairs", "12", "--out", str(tmp_path / "energy.json"))
    found = json.loads((tmp_path / "energy.json").read_text())
    assert 0 <= found["auroc"] <= 1 and found["pairs"] == 12 and found["latent"] == "none"
    assert (run / "plots" / "energy_landscapes.png").stat().st_size > 0
    Image.fromarray(np.asarray(TrajectoryStore(store).frames[1])).save(tmp_path / "next.png")
    action_size = TrajectoryStore(store).actions.shape[-1] * 2  # frame_step=2 actions a model step
    np.save(tmp_path / "a.npy", np.zeros((1, action_size), np.float32))
    cli("energy", str(run), str(tmp_path / "frame.png"), str(tmp_path / "next.png"), "--actions",
        str(tmp_path / "a.npy"))


def test_resume_repeats_the_same_losses(store, tmp_path):
    train(store, tmp_path / "straight", "--steps", "4")
    train(store, tmp_path / "split", "--steps", "4", "--stop-at", "2")
    cli("train", "--resume", str(tmp_path / "split"), "--quiet")
    losses = [[r["loss"] for r in read_metrics(tmp_path / name / "metrics.jsonl")] for name in ("straight", "split")]
    assert losses[0] == losses[1]


def test_bad_inputs_give_clear_errors(store, tmp_path, capsys):
    cli("train", "lewm_tworoom_tiny", "--data", "shapes", "--out", tmp_path / "x", "--quiet", code=2)
    assert "not a trajectory store" in capsys.readouterr().err
    cli("train", "lewm_tworoom_tiny", "--data", store, "--out", tmp_path / "y", "--quiet", "data.frames=1", code=2)
    assert "data.frames" in capsys.readouterr().err
    cli("plan", tmp_path / "nothing", "--episodes", "1", "--quiet", code=2)
    assert "not an openjepa run" in capsys.readouterr().err
