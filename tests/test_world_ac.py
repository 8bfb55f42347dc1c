"""V-JEPA 2-AC-style world model: block-causal mask, causal rollouts with a state token, a frozen encoder, the
generalised plan cost, and collect -> lewm train -> vjepa2ac train --encoder -> plan end to end."""

import json

import pytest
import torch

from openjepa.cli import main
from openjepa.control.envs import make_env
from openjepa.control.mpc import LatentGoalCost, PlanConfig, run_mpc_episode
from openjepa.core.spec import InputSpec
from openjepa.methods.vjepa2ac import ACWorldModel, ACWorldModelConfig
from openjepa.modalities.registry import MODALITIES
from openjepa.nn.ac_predictor import ACPredictor, ACPredictorConfig, block_causal_mask
from openjepa.nn.normalize import Normalize
from openjepa.nn.vit import ViTConfig
from openjepa.optim.adamw import build_optimizer
from openjepa.optim.config import OptimConfig
from openjepa.runs.build import load_trained_method

TOKENS, WIDTH, ACTION, STATE = 4, 32, 4, 2


def tiny_model(history=2, frames=6, state_dim=STATE, tubelet=None):
    torch.manual_seed(0)
    cfg = ACWorldModelConfig(predictor=ACPredictorConfig(width=32, depth=2, heads=2, frames=frames), history=history,
                             pool=2)
    encoder_spec = InputSpec("image", 3, (16, 16)) if tubelet is None else InputSpec("video", 3, (16, 16), frames=4)
    encoder = MODALITIES.get(encoder_spec.modality)().build_encoder(
        ViTConfig(patch_size=4, width=WIDTH, depth=1, heads=2, tubelet=tubelet), encoder_spec)
    spec = InputSpec("trajectory", 3, (16, 16), frames=frames, action_dim=ACTION, state_dim=state_dim)
    model = ACWorldModel(cfg, encoder, Normalize([0.5] * 3, [0.25] * 3), spec)
    for head in (model.predictor.token_head, model.predictor.state_head):  # zero at init: predictions copy the inputs
        if head is not None:
            torch.nn.init.normal_(head.weight, std=0.1)
    return model


def test_block_causal_mask_lets_a_frame_see_itself_and_the_past_only():
    mask = block_causal_mask(3, 2)
    frame = torch.arange(6) // 2
    assert torch.equal(mask, frame[None, :] <= frame[:, None])
    assert mask[1, 0] and mask[0, 1]  # tokens of one frame see each other
    assert not mask[1, 2] and mask[2, 1]
    model = tiny_model(frames=5)
    assert model.predictor.mask.shape == (5 * (2 + TOKENS),) * 2


def test_a_fresh_predictor_copies_its_inputs_forward():
    fresh = ACPredictor(ACPredictorConfig(width=32, depth=2, heads=2, frames=3), WIDTH, TOKENS, ACTION, STATE)
    z, states = torch.randn(2, 3, TOKENS, WIDTH), torch.rand(2, 3, STATE)
    pred, pred_states, _ = fresh(z, torch.randn(2, 3, ACTION), states)
    torch.testing.assert_close(pred, z, rtol=0, atol=0)
    torch.testing.assert_close(pred_states, states, rtol=0, atol=0)


def test_future_action_never_changes_an_earlier_prediction():
    model = tiny_model().eval()
    z, states = torch.randn(3, 2, TOKENS, WIDTH), torch.rand(3, 2, STATE)
    actions = torch.randn(3, 1 + 4, ACTION)
    base = model.rollout(z, actions, states)
    assert base.shape == (3, 4, TOKENS, WIDTH)
    for k in range(4):
        changed = actions.clone()
        changed[:, 1 + k] += 1.0  # the k-th planned action: it leads to predicted step k
        out = model.rollout(z, changed, states)
        torch.testing.assert_close(out[:, :k], base[:, :k], rtol=0, atol=0)
        assert (out[:, k:] - base[:, k:]).abs().amax() > 0


def test_teacher_forcing_is_causal_and_a_cached_continuation_matches_one_pass():
    model = tiny_model().eval()
    z, actions, states = torch.randn(2, 5, TOKENS, WIDTH), torch.randn(2, 5, ACTION), torch.rand(2, 5, STATE)
    with torch.no_grad():
        pred, pred_states, _ = model.predictor(z, actions, states)
        assert pred.shape == z.shape and pred_states.shape == states.shape
        changed = z.clone()
        changed[:, 3] += 1.0
        torch.testing.assert_close(model.predictor(changed, actions, states)[0][:, :3], pred[:, :3], rtol=0, atol=0)
        first, first_states, cache = model.predictor(z[:, :2], actions[:, :2], states[:, :2])
        rest, rest_states, _ = model.predictor(z[:, 2:], actions[:, 2:], states[:, 2:], cache)
        torch.testing.assert_close(torch.cat([first, rest], 1), pred, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(torch.cat([first_states, rest_states], 1), pred_states, rtol=1e-5, atol=1e-5)
        rolled = model.rollout(z[:, :2], actions[:, :2], states[:, :2])
        torch.testing.assert_close(rolled[:, 0], pred[:, 1], rtol=1e-5, atol=1e-5)


def test_rollout_checks_its_inputs():
    model = tiny_model(history=1, frames=3).eval()
    assert model.rollout(torch.randn(4, TOKENS, WIDTH), torch.randn(4, 3, ACTION), torch.rand(4, STATE)).shape == (
        4, 3, TOKENS, WIDTH)
    with pytest.raises(ValueError, match="states"):
        model.rollout(torch.randn(4, TOKENS, WIDTH), torch.randn(4, 3, ACTION))
    with pytest.raises(ValueError, match="predictor.frames >= 4"):
        model.rollout(torch.randn(4, TOKENS, WIDTH), torch.randn(4, 4, ACTION), torch.rand(4, STATE))
    stateless = tiny_model(state_dim=0).eval()
    assert not stateless.reads_state
    assert stateless.rollout(torch.randn(2, 2, TOKENS, WIDTH), torch.randn(2, 3, ACTION)).shape == (2, 2, TOKENS, WIDTH)


def test_a_training_step_leaves_the_encoder_frozen():
    model = tiny_model()
    before = {k: v.clone() for k, v in model.encoder.state_dict().items()}
    optimizer = build_optimizer(model, OptimConfig(lr=1e-2))
    in_optimizer = {id(p) for group in optimizer.param_groups for p in group["params"]}
    assert not in_optimizer & {id(p) for p in model.encoder.parameters()}
    model.train()
    assert not model.encoder.training and model.predictor.training
    batch = {"inputs": torch.rand(4, 3, 4, 16, 16), "actions": torch.randn(4, 4, ACTION),
             "state": torch.rand(4, 4, STATE), "step": 0}
    out = model(batch)
    assert {"pred_loss", "rollout_loss", "state_loss", "rollout_state_loss", "copy_loss"} <= set(out.logs)
    predictor_before = model.predictor.token_head.weight.clone()
    out.loss.backward()
    optimizer.step()
    for k, v in model.encoder.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert not torch.equal(model.predictor.token_head.weight, predictor_before)


def test_a_video_encoder_reads_each_frame_as_one_tubelet():
    model = tiny_model(tubelet=2).eval()
    assert model.embed(torch.rand(3, 3, 16, 16)).shape == (3, TOKENS, WIDTH)
    tokens = model.embed(torch.rand(2, 3, 5, 16, 16))
    assert tokens.shape == (2, 5, TOKENS, WIDTH)
    torch.testing.assert_close(tokens.mean(-1), torch.zeros(2, 5, TOKENS), atol=1e-5, rtol=0)  # layer-normed


def test_plan_cost_takes_latents_of_any_shape_and_an_energy():
    model = tiny_model(history=1).eval()
    z, goal, states = torch.randn(2, 1, TOKENS, WIDTH), torch.randn(2, TOKENS, WIDTH), torch.rand(2, 1, STATE)
    actions = torch.randn(2, 3, 2, ACTION)
    for energy, distance in (("l1", lambda d: d.abs()), ("l2", lambda d: d.square())):
        cost = LatentGoalCost(model, "terminal", energy)
        cost.set(z, torch.zeros(2, 0, ACTION), goal, states)
        rolled = model.rollout(z.repeat_interleave(3, 0), actions.reshape(6, 2, ACTION), states.repeat_interleave(3, 0))
        expected = distance(rolled[:, -1] - goal.repeat_interleave(3, 0)).mean((-2, -1)).reshape(2, 3)
        torch.testing.assert_close(cost(actions), expected)
    with pytest.raises(ValueError, match="pass states"):
        cost.set(z, torch.zeros(2, 0, ACTION), goal)


def cli(*args, code=0):
    with pytest.raises(SystemExit) as done:
        main([str(a) for a in args])
    assert done.value.code == code


LEWM = ["train.batch_size=8", "data.frames=3", "data.frame_step=2", "encoder.width=32", "encoder.depth=1",
        "encoder.heads=2", "method.predictor.width=32", "method.predictor.depth=1", "method.projector.hidden=64",
        "method.projector.out=16", "train.precision=fp32"]
AC = ["train.batch_size=8", "data.frames=4", "data.frame_step=2", "method.predictor.width=32",
      "method.predictor.depth=1", "method.predictor.heads=2", "method.predictor.frames=3", "method.history=1",
      "train.precision=fp32", "train.checkpoint_every=2", "train.log_every=1"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A tiny store, a lewm run on it (the encoder), and a vjepa2ac run on that encoder."""
    root = tmp_path_factory.mktemp("ac")
    cli("collect", "tworoom", "--episodes", "8", "--max-steps", "30", "--policy", "noisy_expert,random", "--out",
        root / "store", "--quiet")
    cli("train", "lewm_tworoom_tiny", "--data", root / "store", "--out", root / "encoder", "--steps", "2", "--quiet",
        *LEWM)
    cli("train", "vjepa2ac_tworoom_tiny", "--data", root / "store", "--encoder", root / "encoder", "--out",
        root / "ac", "--steps", "3", "--quiet", *AC)
    return root


def test_collect_train_on_a_frozen_encoder_and_plan(runs):
    source_cfg, source = load_trained_method(runs / "encoder")
    cfg, model = load_trained_method(runs / "ac")
    assert cfg.encoder == source_cfg.encoder and cfg.data.mean == source_cfg.data.mean
    assert cfg.spec.state_dim == 2 and cfg.spec.action_dim == 4  # 2-d actions x frameskip 2
    assert cfg.init.run == str(runs / "encoder") and cfg.encoder_spec == source_cfg.spec
    for k, v in source.eval_encoder().state_dict().items():
        assert torch.equal(model.encoder.state_dict()[k], v), k
    config = PlanConfig(planner_args={"samples": 8, "elites": 2, "iterations": 2}, horizon=3, max_steps=6,
                        energy="l1")
    episode = run_mpc_episode(model, make_env("tworoom", image_size=32, max_steps=6), 0, config, 2)
    assert episode.steps > 0 and len(episode.plan_seconds) == len(episode.predicted)
    assert episode.predicted[0].shape == (3, model.grid[0] * model.grid[1] * model.encoder.width)
    cli("plan", runs / "ac", "--episodes", "1", "--planner-args", '{"samples": 8, "elites": 2, "iterations": 2}',
        "--horizon", "3", "--max-steps", "6", "--quiet")
    report = json.loads((runs / "ac" / "plan.json").read_text())
    assert report["episodes"] == 1 and 0 <= report["success_rate"] <= 1 and "random_success_rate" in report
    assert (runs / "ac" / "plots" / "plan_episodes.png").is_file()


def test_eval_reads_the_state_out_of_the_frozen_encoder_and_the_model(runs):
    cli("eval", runs / "ac")
    results = json.loads((runs / "ac" / "eval.json").read_text())
    for key in ("position_r2", "position_r2_encoder"):
        assert set(results[key]) == {"trained", "random_init"}
        assert all(-10 < value <= 1 for value in results[key].values())
    assert "state R^2" in (runs / "ac" / "report.md").read_text()


def test_resume_continues_without_the_encoder_run(runs, tmp_path):
    cli("train", "vjepa2ac_tworoom_tiny", "--data", runs / "store", "--encoder", runs / "encoder", "--out",
        tmp_path / "split", "--steps", "3", "--stop-at", "2", "--quiet", *AC)
    (tmp_path / "split" / "config.yaml").write_text(
        (tmp_path / "split" / "config.yaml").read_text().replace(str(runs / "encoder"), str(tmp_path / "gone")))
    cli("train", "--resume", tmp_path / "split", "--quiet")
    losses = [json.loads(line)["loss"] for line in (tmp_path / "split" / "metrics.jsonl").read_text().splitlines()]
    reference = [json.loads(line)["loss"] for line in (runs / "ac" / "metrics.jsonl").read_text().splitlines()]
    assert losses == reference


def test_bad_encoder_runs_give_clear_errors(runs, tmp_path, capsys):
    train = ["train", "vjepa2ac_tworoom_tiny", "--data", runs / "store", "--quiet", *AC]
    cli(*train, "--out", tmp_path / "a", code=2)
    assert "pass --encoder RUN" in capsys.readouterr().err
    cli(*train, "--out", tmp_path / "b", "--encoder", tmp_path / "missing", code=2)
    assert "no such run folder" in capsys.readouterr().err
    cli(*train, "--out", tmp_path / "c", "--encoder", runs / "store", code=2)
    assert "not an openjepa run" in capsys.readouterr().err
    cli("collect", "tworoom", "--episodes", "4", "--max-steps", "30", "--image-size", "16", "--out",
        tmp_path / "small", "--quiet")
    capsys.readouterr()
    cli("train", "vjepa2ac_tworoom_tiny", "--data", tmp_path / "small", "--encoder", runs / "encoder", "--out",
        tmp_path / "d", "--quiet", *AC, code=2)
    assert "reads 3-channel 32x32 images" in capsys.readouterr().err
    cli("train", "--resume", runs / "ac", "--encoder", runs / "encoder", code=2)
    assert "--resume DIR continues a run as configured" in capsys.readouterr().err
