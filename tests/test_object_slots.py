"""Causal-JEPA: slots pooled from object masks, ball scenes as windows, masks over time x object slots drawn afresh
per sample, the slot predictor that fills hidden slots without reading them, and the method's loss and rollout."""

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from cli_process import run_cli
from PIL import Image

from openjepa.core.errors import ConfigError, DataError
from openjepa.data.bouncing_balls import balls_dataset
from openjepa.data.loader import TrainBatches
from openjepa.data.object_slots import mask_pooled_slots
from openjepa.masks.object_slots import SlotMaskConfig, SlotMasker, SlotMaskExtras
from openjepa.modalities.objects import ObjectDataConfig, ObjectModality
from openjepa.nn.slot_predictor import SlotPredictor, SlotPredictorConfig
from openjepa.runs.build import build_method
from openjepa.runs.config import build_config, recipe_dict
from openjepa.runs.prepare import fill_spec


def test_object_masks_hide_whole_histories_of_fresh_objects_every_draw():
    masker = SlotMasker(SlotMaskConfig("objects", 2), history=5, future=3, objects=4)
    seen = masker(0, 0, 7)
    assert seen.shape == (8, 4) and seen[0].all() and not seen[5:].any()
    hidden = ~seen[1:5]
    assert hidden.sum(0).tolist().count(4) == 2 and hidden.sum(0).tolist().count(0) == 2  # 2 whole histories
    assert np.array_equal(seen, masker(0, 0, 7))
    picks = {tuple(np.flatnonzero(~masker(0, step, 7)[1])) for step in range(30)}
    assert len(picks) > 3  # not the same objects every step
    assert len({tuple(np.flatnonzero(~masker(0, 0, i)[1])) for i in range(30)}) > 3


def test_token_masks_hide_as_many_single_slots_anywhere_in_the_history():
    masker = SlotMasker(SlotMaskConfig("tokens", 2), history=5, future=3, objects=4)
    seen = masker(1, 0, 0)
    assert seen[0].all() and not seen[5:].any() and (~seen[1:5]).sum() == 2 * 4
    batch = SlotMaskExtras(masker)(1, 0, [0, 1, 2])["seen"]
    assert batch.shape == (3, 8, 4) and batch.dtype == torch.bool and torch.equal(batch[0], torch.from_numpy(seen))


def test_a_count_range_draws_each_samples_masked_objects_from_it():
    masker = SlotMasker(SlotMaskConfig("objects", 2, min_masked=0), history=5, future=3, objects=4)
    counts = [int((~masker(0, 0, i)[1:5]).all(0).sum()) for i in range(60)]
    assert set(counts) == {0, 1, 2}
    with pytest.raises(ValueError, match="min_masked must be in 0..mask.masked=2"):
        SlotMaskConfig("objects", 2, min_masked=3).validate()


def test_bad_slot_masks_are_refused():
    with pytest.raises(ValueError, match="a scene holds 3"):
        SlotMasker(SlotMaskConfig("objects", 4), history=4, future=2, objects=3)
    with pytest.raises(ValueError, match="at least 2 history steps"):
        SlotMasker(SlotMaskConfig(), history=1, future=2, objects=3)


def _predictor():
    torch.manual_seed(0)
    return SlotPredictor(SlotPredictorConfig(width=32, depth=2, heads=4), slot_dim=6, steps=8).eval()


def test_the_predictor_never_reads_a_hidden_slot():
    model = _predictor()
    slots = torch.randn(2, 8, 4, 6)
    seen = torch.from_numpy(np.stack([SlotMasker(SlotMaskConfig(), 5, 3, 4)(0, 0, i) for i in range(2)]))
    changed = torch.where(seen[..., None], slots, torch.randn_like(slots) * 100)
    assert torch.allclose(model(slots, seen), model(changed, seen), atol=1e-5)
    assert not torch.allclose(model(slots, seen), model(slots + 0.1 * seen[..., None], seen))


def test_objects_are_told_apart_by_their_anchor_alone_and_permute_with_the_input():
    model = _predictor()
    slots, seen = torch.randn(1, 8, 4, 6), torch.ones(1, 8, 4, dtype=torch.bool)
    seen[:, 5:] = False
    order = torch.tensor([2, 0, 3, 1])
    out, permuted = model(slots, seen), model(slots[:, :, order], seen[:, :, order])
    assert torch.allclose(out[:, :, order], permuted, atol=1e-5)
    assert not torch.allclose(out[:, 6, 0], out[:, 6, 1])  # hidden future slots still differ per object
    seen[:, 0, 1] = False
    with pytest.raises(ValueError, match="identity anchor"):
        model(slots, seen)


def test_mask_pooled_slots_read_centre_motion_area_and_colour_and_carry_a_hidden_object():
    frames = np.zeros((3, 3, 8, 8), np.uint8)
    objects = np.zeros((3, 8, 8), np.uint8)
    objects[0, 2:4, 4:8] = 1  # object 0: rows 2-3, columns 4-7 at frame 0, gone at frames 1 and 2
    frames[0, 0, 2:4, 4:8] = 255
    objects[:2, 6, 0] = 2  # object 1: one pixel, moving one column right at frame 2
    objects[2, 6, 1] = 2
    frames[:2, 2, 6, 0] = 51
    frames[2, 2, 6, 1] = 51
    slots = mask_pooled_slots(frames, objects, 2)
    assert slots.shape == (3, 2, 8)
    assert np.allclose(slots[0, 0], [6 / 8, 3 / 8, 0, 0, 8 / 64, 1, 0, 0])  # no frame before: no motion
    assert np.allclose(slots[1, 0], slots[0, 0]) and np.allclose(slots[2, 0], slots[0, 0])  # hidden: the slot it had
    assert np.allclose(slots[1, 1], [0.5 / 8, 6.5 / 8, 0, 0, 1 / 64, 0, 0, 0.2])
    assert np.allclose(slots[2, 1], [1.5 / 8, 6.5 / 8, 1 / 8, 0, 1 / 64, 0, 0, 0.2])


def _balls(scenes=24, window=8):
    return balls_dataset(SimpleNamespace(scenes=scenes, test_scenes=12, scene_frames=16, balls=3, image_size=32,
                                         window=window))


def test_ball_scenes_serve_every_window_channels_first_with_states():
    data = _balls()
    assert len(data.train) == 24 * 9 and data.channels == 8 and data.objects == 3
    slots, extra = data.train[9 * 3 + 2]  # scene 3, frames 2-9
    assert slots.shape == (8, 8, 3) and torch.equal(slots, data.train.slots[3, 2:10].permute(2, 0, 1))
    assert torch.equal(extra["states"], data.train.states[3, 2:10])
    assert (data.train.slots[..., :2] - data.train.states[..., :2]).abs().max() < 0.03  # centroids track states
    mean, std = data.channel_stats()
    assert len(mean) == 8 and min(std) > 0


def _cjepa(kind="objects"):
    data = _balls()
    cfg = fill_spec(build_config(recipe_dict("cjepa_tiny"), [
        "data.window=8", "method.history=5", "method.predictor.width=32", "method.predictor.depth=1",
        "method.predictor.heads=2", f"method.mask.kind={kind}", "data.balls=3"]), data)
    torch.manual_seed(0)
    method = build_method(cfg)
    batch = next(TrainBatches(data.train, 16, 0, extras=method.sample_extras(), prepare=lambda x: x.float())
                 .iterate(0, 1))
    return method, batch


@pytest.mark.parametrize("kind", ["objects", "tokens"])
def test_cjepa_scores_the_hidden_history_and_the_future_and_rolls_out_any_number_of_objects(kind):
    method, batch = _cjepa(kind)
    out = method(batch)
    assert torch.isclose(out.loss, out.logs["history_loss"] + out.logs["future_loss"])
    out.loss.backward()
    assert method.predictor.mask_token.grad.abs().sum() > 0
    slots = method.slots(batch["inputs"])
    assert slots.shape == (16, 8, 3, 8)
    assert method.rollout(slots[:, :5], 3).shape == (16, 3, 3, 8)
    assert method.rollout(slots[:, :5, :2], 3).shape == (16, 3, 2, 8)  # one object taken out


def test_cjepa_trains_and_reports_dynamics_and_counterfactuals_on_the_command_line(tmp_path):
    run = tmp_path / "run"
    small = ["data.scenes=40", "data.test_scenes=60", "data.scene_frames=20", "method.predictor.width=32",
             "method.predictor.depth=1", "method.predictor.heads=2", "train.batch_size=32"]
    for args in (("train", "cjepa_tiny", "--out", run, "--steps", 3, "--quiet", *small), ("eval", run)):
        done = run_cli([str(a) for a in args], timeout=600)
        assert done.code == 0, done.err
    results = json.loads((run / "eval.json").read_text())
    errors = results["future_state_error"]
    assert set(errors) == {"trained", "random_init", "constant_velocity"} and all(v > 0 for v in errors.values())
    assert 0 <= results["counterfactual_accuracy"] <= 1 and results["counterfactual"]["cases"] > 0
    assert results["counterfactual"]["constant_velocity"] > 0.5  # it ignores the other objects altogether
    assert (run / "plots" / "object_rollouts.png").is_file()
    assert "position error" in (run / "report.md").read_text()


def test_object_runs_refuse_files_and_users_folders_in_one_line(tmp_path):
    image = tmp_path / "x.png"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(image)
    with pytest.raises(DataError, match="not files"):
        ObjectModality().read_files([image], None)
    with pytest.raises(DataError, match="not a built-in object dataset"):
        ObjectModality().load(ObjectDataConfig(dataset=str(tmp_path)))
    with pytest.raises(ConfigError, match="leaves nothing to predict"):
        build_method(fill_spec(build_config(recipe_dict("cjepa_tiny"), ["method.history=8", "data.window=8",
                                                                        "data.balls=3"]), _balls()))
