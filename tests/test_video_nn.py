"""Video building blocks: tubelet tokenizer, RoPE, 3-D tube masks, the V-JEPA method, attentive probes."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from openjepa.core.errors import ConfigError
from openjepa.core.spec import InputSpec
from openjepa.data.augment import random_flips
from openjepa.eval.attentive import AttentiveProbeConfig, attentive_probe
from openjepa.eval.clips import StepwiseEncoder, token_motion, token_occupancy
from openjepa.eval.probes import dense_probe
from openjepa.masks.tubes import TubeMaskConfig, TubeMasker, collate_tube_masks, future_split, vjepa_mask_configs
from openjepa.methods.vjepa import VJepa, VJepaConfig, change_since_first_step, context_weights
from openjepa.modalities.patches import patch_tokens
from openjepa.modalities.tubelets import TubeletEmbed3d
from openjepa.modalities.video import VideoModality
from openjepa.nn.normalize import Normalize
from openjepa.nn.predictor import PredictorConfig
from openjepa.nn.rope import apply_rope, grid_coords, rope_tables
from openjepa.nn.vit import ViTConfig


def test_tubelet_tokens_follow_raster_order_over_time_height_width():
    embed = TubeletEmbed3d(in_chans=1, dim=1, patch_size=2, tubelet=2)
    with torch.no_grad():
        embed.proj.weight.fill_(1.0)
        embed.proj.bias.zero_()
    clip = torch.zeros(1, 1, 4, 4, 6)
    clip[0, 0, 2:4, 2:4, 4:6] = 1.0  # second time step, second row, third column of the (2, 2, 3) grid
    tokens = embed(clip).detach()[0, :, 0]
    assert embed.grid(4, 4, 6) == (2, 2, 3) and tokens.shape == (12,)
    assert int(tokens.argmax()) == 1 * 6 + 1 * 3 + 2 and float(tokens.max()) == 8.0
    with pytest.raises(ValueError, match="not a multiple of the tubelet"):
        embed(torch.zeros(1, 1, 3, 4, 6))
    with pytest.raises(ValueError, match=r"\(B, 1, T, H, W\)"):
        embed(torch.zeros(1, 4, 6))


@pytest.mark.parametrize("conv", [torch.nn.Conv2d(3, 8, 4, 4), torch.nn.Conv3d(3, 8, (2, 4, 4), (2, 4, 4))])
def test_patch_tokens_as_a_matmul_equal_the_strided_convolution_and_its_gradients(conv):
    torch.manual_seed(0)
    x = torch.randn(2, 3, *([4] if isinstance(conv, torch.nn.Conv3d) else []), 8, 12, requires_grad=True)
    ref = conv(x).flatten(2).transpose(1, 2)
    grads = torch.autograd.grad(ref.square().sum(), [x, conv.weight, conv.bias])
    out = patch_tokens(x, conv)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)
    for ours, theirs in zip(torch.autograd.grad(out.square().sum(), [x, conv.weight, conv.bias]), grads):
        torch.testing.assert_close(ours, theirs, atol=1e-4, rtol=1e-4)


def _rotate(x, coords, quirk=False):
    cos, sin = rope_tables(coords, x.shape[-1], reference_quirk=quirk)
    return apply_rope(x, cos, sin)


def test_rope_is_a_rotation_that_depends_on_relative_position_only():
    torch.manual_seed(0)
    d = 32
    q, k = torch.randn(1, 1, 1, d), torch.randn(1, 1, 1, d)
    p, r = torch.tensor([[3.0, 1.0, 5.0]]), torch.tensor([[1.0, 4.0, 2.0]])
    shift = torch.tensor([[7.0, -2.0, 3.0]])
    dot = (_rotate(q, p) * _rotate(k, r)).sum()
    shifted = (_rotate(q, p + shift) * _rotate(k, r + shift)).sum()
    assert torch.allclose(dot, shifted, atol=1e-5)
    assert torch.allclose(_rotate(q, p).norm(), q.norm(), atol=1e-5)  # norms are kept
    assert not torch.allclose(dot, (q * k).sum(), atol=1e-3)  # and positions do matter
    # the reference implementation's tiled tables are not a rotation: norms change
    assert not torch.allclose(_rotate(q, p, quirk=True).norm(), q.norm(), atol=1e-3)


def test_rope_leaves_channels_past_the_axis_chunks_alone():
    x = torch.randn(1, 1, 5, 64)  # 3 axes of 2 * (64 // 3 // 2) = 20 channels: the last 4 stay
    coords = grid_coords((1, 1, 5)).float()
    out = _rotate(x, coords)
    assert torch.equal(out[..., 60:], x[..., 60:]) and not torch.allclose(out[..., :60], x[..., :60])


def test_rope_tables_are_built_on_the_coordinates_device():
    # CUDA training of the RoPE recipes once failed here: the frequencies stayed on the CPU. "meta" stands in for
    # another device on a machine without a GPU.
    cos, sin = rope_tables(grid_coords((2, 3, 3)).to("meta"), 24)
    assert cos.device.type == sin.device.type == "meta" and cos.shape == (18, 24)


@pytest.mark.parametrize("scale,blocks", [((0.15, 0.15), 8), ((0.7, 0.7), 2)])
def test_tube_masks_cover_full_time_and_partition_the_grid(scale, blocks):
    grid = (4, 8, 8)
    config = TubeMaskConfig(num_blocks=blocks, spatial_scale=scale)
    masker = TubeMasker([config], grid)
    fractions = []
    for i in range(200):
        (draw,) = masker(seed=3, epoch=0, index=i)
        target = np.zeros(int(np.prod(grid)), dtype=bool)
        target[draw.targets[0]] = True
        assert not np.intersect1d(draw.context, draw.targets[0]).size
        assert len(draw.context) + len(draw.targets[0]) == target.size  # context = everything not masked
        cube = target.reshape(grid)
        assert (cube == cube[:1]).all()  # temporal extent 1.0: the same spatial mask at every time step
        fractions.append(cube[0].mean())
    # one block covers ~scale of the plane; the union of `blocks` covers less than blocks * scale
    assert scale[0] * 0.8 < np.mean(fractions) < min(1.0, blocks * scale[0])
    again = masker(seed=3, epoch=0, index=7)[0]
    assert np.array_equal(again.context, masker(seed=3, epoch=0, index=7)[0].context)


def test_tube_mask_collate_keeps_one_set_per_configuration():
    masker = TubeMasker(vjepa_mask_configs(), (2, 4, 4))
    batch = collate_tube_masks([masker(0, 0, i) for i in range(3)])
    assert set(batch) == {f"m{m}.{k}" for m in (0, 1) for k in ("ctx_idx", "ctx_valid", "tgt_idx", "tgt_valid")}
    assert batch["m0.tgt_idx"].shape[:2] == (3, 1)
    with pytest.raises(ValueError, match="spatial_scale"):
        TubeMasker([TubeMaskConfig(spatial_scale=(0.5, 0.2))], (2, 4, 4))


def test_context_weights_fall_with_distance_to_the_mask():
    grid = (1, 1, 6)
    ctx_idx = torch.tensor([[0, 1, 2]])
    tgt_idx, tgt_valid = torch.tensor([[3, 4, 5]]), torch.ones(1, 3, dtype=torch.bool)
    w = context_weights(grid, ctx_idx, tgt_idx, tgt_valid)[0]
    assert torch.allclose(w, torch.tensor([3.0, 2.0, 1.0]).rsqrt())


def _tiny_video_method(pos="sincos", **method):
    spec = InputSpec("video", 3, (16, 16), frames=4)
    encoder = VideoModality().build_encoder(ViTConfig(width=32, depth=3, heads=2, patch_size=4, tubelet=2,
                                                      pos_embed=pos), spec)
    config = VJepaConfig(predictor=PredictorConfig(width=16, depth=1, heads=2,
                                                   pos_embed="rope" if pos == "rope" else "sincos"), **method)
    return VJepa(config, encoder, Normalize([0.5] * 3, [0.25] * 3), spec)


@pytest.mark.parametrize("pos,method", [("sincos", {}), ("rope", {}),
                                        ("rope", {"context_weight": 0.5, "deep_layers": [1, 2]})])
def test_vjepa_step_trains_encoder_and_predictor(pos, method):
    torch.manual_seed(0)
    model = _tiny_video_method(pos, **method)
    batch = {"inputs": torch.rand(2, 3, 4, 16, 16), "step": 0, "seed": 1,
             **model.sample_extras()(seed=0, epoch=0, indices=[0, 1])}
    out = model(batch)
    out.loss.backward()
    assert torch.isfinite(out.loss)
    assert model.encoder.patch_embed.proj.weight.grad.abs().sum() > 0
    assert model.predictor.mask_tokens.grad[1].abs().sum() > 0  # the long-range configuration's own token
    assert model.predictor.mask_tokens.shape[0] == 2
    assert ("context_loss" in out.logs) == ("context_weight" in method)
    assert all(p.grad is None for p in model.target.copy.parameters())


@pytest.mark.parametrize("pos", ["sincos", "rope"])
def test_stepwise_encoder_keeps_each_time_step_to_itself_at_its_own_position(pos):
    torch.manual_seed(0)
    encoder = _tiny_video_method(pos).encoder.eval()
    stepwise = StepwiseEncoder(encoder)
    clips = torch.rand(2, 3, 4, 16, 16)
    changed = clips.clone()
    changed[:, :, 2:] = torch.rand(2, 3, 2, 16, 16)  # the second tubelet step only
    out, out_changed = stepwise(clips), stepwise(changed)
    assert out.shape == encoder(clips).shape == (2, 32, 32)
    torch.testing.assert_close(out[:, :16], out_changed[:, :16])  # the first step does not see the second
    assert not torch.allclose(encoder(clips)[:, :16], encoder(changed)[:, :16])  # the whole clip does
    assert not torch.allclose(out[:, 16:], out_changed[:, 16:])
    # the second step's tokens sit at time position 1; moved to time 0 they change with absolute positions only
    second_first = stepwise(torch.cat([clips[:, :, 2:], clips[:, :, :2]], 2))[:, :16]
    assert torch.allclose(out[:, 16:], second_first, atol=1e-5) == (pos == "rope")


def test_vjepa_flips_each_clip_once_for_context_and_targets_alike():
    torch.manual_seed(0)
    model = _tiny_video_method(flips="horizontal")
    clips = torch.rand(4, 3, 4, 16, 16)
    extras = model.sample_extras()(seed=0, epoch=0, indices=[0, 1, 2, 3])
    flipped = random_flips(clips, "horizontal", torch.Generator().manual_seed(5))
    assert not torch.equal(flipped, clips) and any(torch.equal(f, c) for f, c in zip(flipped, clips))
    with torch.no_grad():
        loss = model({"inputs": clips, "step": 0, "seed": 5, **extras}).loss
        model.config.flips = "none"
        as_flipped = model({"inputs": flipped, "step": 0, "seed": 5, **extras}).loss
        as_given = model({"inputs": clips, "step": 0, "seed": 5, **extras}).loss
    assert torch.allclose(loss, as_flipped) and not torch.allclose(loss, as_given)


def test_video_encoders_need_a_tubelet_and_vjepa_refuses_bad_deep_layers():
    with pytest.raises(ConfigError, match="encoder.tubelet"):
        VideoModality().build_encoder(ViTConfig(width=32, depth=2, heads=2, patch_size=4),
                                      InputSpec("video", 3, (16, 16), frames=4))
    with pytest.raises(ValueError, match="deep_layers"):
        _tiny_video_method(deep_layers=[3])


def _label_in_one_token(n: int = 600, tokens: int = 16, dim: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """Tokens ``(n, tokens, dim)`` of noise and labels ``(n,)`` in 0..2, each label written into one findable token."""
    torch.manual_seed(0)
    x = torch.randn(n, tokens, dim)
    y = torch.randint(0, 3, (n,))
    where = torch.randint(0, tokens, (n,))
    x[torch.arange(n), where, :3] += 4 * torch.nn.functional.one_hot(y, 3).float()  # the label sits in one token
    x[torch.arange(n), where, 3] += 6.0  # and that token is findable
    return x, y


def test_attentive_probe_reads_a_label_carried_by_one_token():
    x, y = _label_in_one_token()
    cfg = AttentiveProbeConfig(epochs=15, batch_size=32, weight_decays=(0.01,))
    assert attentive_probe(x[:500], y[:500], x[500:], y[500:], cfg)["accuracy"] > 0.9
    vjepa2_probe = AttentiveProbeConfig(epochs=15, batch_size=32, weight_decays=(0.01,), self_attention_layers=1)
    assert vjepa2_probe.schedule() == (3e-4, 0.1) and cfg.schedule() == (1e-3, 0.0)
    assert attentive_probe(x[:500], y[:500], x[500:], y[500:], vjepa2_probe)["accuracy"] > 0.8
    shuffled = attentive_probe(x[:500], y[torch.randperm(500)], x[500:], y[500:], cfg)["accuracy"]
    assert shuffled < 0.6
    with pytest.raises(ValueError, match=r"\(N, L, D\)"):
        attentive_probe(x[:, 0], y, x[:, 0], y)


def test_attentive_probe_picks_its_warmup_on_held_out_clips_then_trains_on_all_of_them():
    x, y = _label_in_one_token()
    cfg = AttentiveProbeConfig(epochs=8, batch_size=32, weight_decays=(0.01,))
    # warming up over 99% of 8 short epochs leaves the probe near chance; the pick must not follow the list's order
    slow = attentive_probe(x[:500], y[:500], x[500:], y[500:], replace(cfg, warmups=(0.99,)))
    fast = attentive_probe(x[:500], y[:500], x[500:], y[500:], replace(cfg, warmups=(0.0,)))
    picked = attentive_probe(x[:500], y[:500], x[500:], y[500:], replace(cfg, warmups=(0.99, 0.0)))
    assert slow["accuracy"] < 0.7 < fast["accuracy"], (slow, fast)
    scores = ("accuracy", "weight_decay", "warmup")
    assert [picked[k] for k in scores] == [fast[k] for k in scores]  # the picked schedule, retrained on every item


def test_attentive_probe_trains_on_every_view_of_an_item_with_its_own_label():
    torch.manual_seed(0)
    n, dim = 400, 8
    y = torch.randint(0, 4, (n,))
    x = torch.randn(n, 2, 4, dim) * 0.1
    x[:, 0, :, :4] += 3 * torch.nn.functional.one_hot(y, 4)[:, None].float()
    x[:, 1, :, 4:] += 3 * torch.nn.functional.one_hot((y + 1) % 4, 4)[:, None].float()  # a view that moves the label
    labels = torch.stack([y, (y + 2) % 4], 1)  # (N, V): the second view's label is turned
    cfg = AttentiveProbeConfig(epochs=30, batch_size=32, weight_decays=(0.01, 0.1))
    second_view = attentive_probe(x[:300], labels[:300], x[300:, 1], labels[300:, 1], cfg)["accuracy"]
    first_only = attentive_probe(x[:300, 0], y[:300], x[300:, 1], labels[300:, 1], cfg)["accuracy"]
    assert second_view > 0.9 and first_only < 0.5, (second_view, first_only)
    with pytest.raises(ValueError, match=r"\(N, V\)"):
        attentive_probe(x[:300], y[:300], x[300:, 1], y[300:], cfg)


def test_attentive_probe_averages_its_probabilities_over_test_views():
    torch.manual_seed(0)
    n, dim = 400, 8
    y = torch.randint(0, 2, (n,))
    x = torch.randn(n, 4, dim) * 0.1
    x[..., 0] += (2 * y - 1)[:, None].float()  # the label, plainly
    test_y = y[300:]
    views = [x[300:].clone() for _ in range(15)]
    for view in views:
        view[..., 0] += torch.randn(100, 1) * 3  # each view of a test item noisy on its own
    cfg = AttentiveProbeConfig(epochs=10, batch_size=32, weight_decays=(0.01,))
    one = attentive_probe(x[:300], y[:300], views[0], test_y, cfg)["accuracy"]
    many = attentive_probe(x[:300], y[:300], views, test_y, cfg)["accuracy"]
    assert many > one + 0.1, (one, many)  # independent views average their noise away
    with pytest.raises(ValueError, match="one test label per item"):
        attentive_probe(x[:300], y[:300], [views[0], views[1][:50]], test_y, cfg)


def test_dense_probe_scores_content_beyond_what_position_predicts():
    torch.manual_seed(0)
    n, tokens, dim = 300, 16, 8
    prior = torch.linspace(0, 1, tokens)  # the target's mean differs by position
    content = torch.rand(n, tokens)
    y = prior + content
    position_only = torch.eye(tokens)[None, :, :dim].expand(n, -1, -1) + 0.01 * torch.randn(n, tokens, dim)
    assert abs(dense_probe(position_only[:200], y[:200], position_only[200:], y[200:])) < 0.05
    with_content = position_only.clone()
    with_content[..., 0] += content  # features that carry the content at each position
    assert dense_probe(with_content[:200], y[:200], with_content[200:], y[200:]) > 0.95


def test_token_motion_is_the_sprite_share_times_its_displacement_and_reads_back():
    masks = torch.zeros(1, 4, 4, 4, dtype=torch.bool)
    masks[0, :2, :2, :2] = True  # the first token, fully
    masks[0, 2, 2:, 2:] = True  # the last token (index 7), in one of its two frames
    velocity = torch.tensor([[[1.0, 0.0], [3.0, 0.0], [0.0, -2.0], [5.0, 5.0]]])  # frame t -> t + 1
    motion = token_motion(token_occupancy(masks, 2, 2), velocity, tubelet=2)  # grid (2, 2, 2): 8 tokens
    assert motion.shape == (1, 8, 2)
    assert torch.allclose(motion[0, 0], torch.tensor([1.0, 0.0]))  # share 1, the move from frame 0 to 1
    assert torch.allclose(motion[0, 7], torch.tensor([0.0, -1.0]))  # share 1/2, moving up from frame 2 to 3
    assert motion[0, 1:7].abs().sum() == 0
    torch.manual_seed(0)
    y = torch.randn(300, 8, 2)
    features = torch.cat([y, torch.randn(300, 8, 3)], dim=-1)  # the two outputs are linear in the features
    assert dense_probe(features[:200], y[:200], features[200:], y[200:]) > 0.99
    assert abs(dense_probe(features[:200, :, 2:], y[:200], features[200:, :, 2:], y[200:])) < 0.05


def test_future_masks_hide_the_last_time_steps():
    grid = (4, 2, 2)
    masker = TubeMasker([TubeMaskConfig(kind="future", temporal_scale=(0.5, 0.5))], grid)
    (draw,) = masker(0, 0, 0)
    assert np.array_equal(draw.context, np.arange(8)) and np.array_equal(draw.targets[0], np.arange(8, 16))
    model = _tiny_video_method(masks=[TubeMaskConfig(), TubeMaskConfig(kind="future")])
    assert model.future_mask_index() == 1


def test_change_since_first_step_subtracts_the_first_time_step_at_each_position():
    grid = (3, 2, 2)
    features = torch.randn(2, 12, 5)
    change = change_since_first_step(features, grid)
    assert torch.equal(change[:, :4], torch.zeros(2, 4, 5))
    assert torch.allclose(change[:, 9], features[:, 9] - features[:, 1])  # time 2, spatial position 1


def test_predict_change_trains_on_the_change_and_surprise_scores_the_same_energy():
    torch.manual_seed(0)
    model = _tiny_video_method(masks=[TubeMaskConfig(kind="future", temporal_scale=(0.5, 0.5))], predict_change=True)
    clips = torch.rand(2, 3, 4, 16, 16)
    batch = {"inputs": clips, "step": 0, "seed": 1, **model.sample_extras()(seed=0, epoch=0, indices=[0, 1])}
    out = model(batch)
    out.loss.backward()
    assert model.encoder.patch_embed.proj.weight.grad.abs().sum() > 0
    ctx, tgt = future_split(model.encoder.grid, 1)
    with torch.no_grad():
        x, ctx_idx, tgt_idx = model.normalize(clips), ctx.expand(2, -1), tgt.expand(2, -1)
        energy = model.prediction_energy(x, ctx, tgt)
        given = model.predict_targets(x, ctx_idx, tgt_idx, model.target_features(x))
        assert torch.allclose(model.predict_targets(x, ctx_idx, tgt_idx), given, atol=1e-6)
    # the loss compares predicted and observed change; surprise compares features: the same distance
    assert torch.allclose(energy.mean(), out.logs["pred_loss"], atol=1e-5)
