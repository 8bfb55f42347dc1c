"""H-JEPA: the pyramid pools real 2-D neighbourhoods of the patch grid, the level losses, the pyramid encoder that
evaluation, embed and export read, and the recipe end to end on the command line."""

import json

import numpy as np
import pytest
import torch
from cli_process import run_cli
from conftest import TINY_VIDEO
from PIL import Image

from openjepa.core.errors import ConfigError
from openjepa.core.spec import InputSpec
from openjepa.data.digits import load_digits
from openjepa.data.loader import TrainBatches
from openjepa.eval.surprise import surprise
from openjepa.eval.task import EvalContext
from openjepa.eval.tasks.level_probes import LevelProbes
from openjepa.masks.tubes import TubeMaskConfig, future_split
from openjepa.methods.hjepa import TemporalHJepa, TemporalHJepaConfig
from openjepa.modalities.video import VideoModality
from openjepa.nn.normalize import Normalize
from openjepa.nn.predictor import PredictorConfig, gather_tokens
from openjepa.nn.pyramid import PyramidConfig, PyramidEncoder, TokenPyramid, backbone_of, cell_index
from openjepa.nn.vit import ViTConfig
from openjepa.runs.build import build_method
from openjepa.runs.config import build_config, recipe_dict
from openjepa.runs.prepare import fill_spec

DATA = load_digits(size=16)
SMALL = ["method.pyramid.width=8"]
LATERAL = ["method.pyramid.patch_level=lateral"]  # hjepa_tiny's level 0 is its tokens; these tests map it too


def _method_and_batch(recipe, overrides, step=3):
    cfg = fill_spec(build_config(recipe_dict(recipe), overrides), DATA)
    torch.manual_seed(0)
    method = build_method(cfg)
    return method, next(TrainBatches(DATA.train, 16, 0, extras=method.sample_extras()).iterate(step, step + 1))


def _cell_means(tokens, weight, grid, side):
    """Weighted means over cells of ``side x side`` patches, written out the slow way: ``(B, h', w', D)``."""
    h, w = grid
    B, _, D = tokens.shape
    grid_tokens, grid_weight = tokens.reshape(B, h, w, D), weight.reshape(B, h, w)
    rows, cols = -(-h // side), -(-w // side)
    out = torch.zeros(B, rows, cols, D)
    for r in range(rows):
        for c in range(cols):
            cell_w = grid_weight[:, r * side : (r + 1) * side, c * side : (c + 1) * side]
            cell_t = grid_tokens[:, r * side : (r + 1) * side, c * side : (c + 1) * side]
            total = cell_w.sum((1, 2))
            out[:, r, c] = (cell_t * cell_w[..., None]).sum((1, 2)) / total.clamp_min(1e-6)[:, None]
    return out


def test_cells_pool_neighbouring_patches_on_the_grid_odd_sizes_included():
    torch.manual_seed(0)
    grid = (5, 6)
    pyramid = TokenPyramid(PyramidConfig(levels=3, width=4), 5, grid)
    for lateral in pyramid.lateral:  # identity laterals expose the pooled means
        lateral[0].weight.data.copy_(torch.eye(4, 5))
        lateral[0].bias.data.zero_()
        lateral[1] = torch.nn.Identity()
    pyramid.top_down = torch.nn.ModuleList(torch.nn.Sequential(torch.nn.Linear(4, 4)) for _ in range(2))
    for td in pyramid.top_down:
        td[0].weight.data.zero_()
        td[0].bias.data.zero_()
    tokens = torch.randn(2, 30, 5)
    weight = (torch.rand(2, 30) > 0.4).float()
    maps, covers = pyramid(tokens, weight=weight)
    assert [tuple(m.shape[1:3]) for m in maps] == [(5, 6), (3, 3), (2, 2)]
    for level, side in enumerate((1, 2, 4)):
        expected = _cell_means(tokens, weight, grid, side)[..., :4]
        covered = covers[level] > 0
        assert torch.allclose(maps[level][covered], expected[covered], atol=1e-5)
        assert covers[level].sum() == weight.sum()  # every weighted patch counted once per level
    # tokens outside the weighted set change nothing
    shifted = tokens + 100 * (1 - weight)[..., None]
    again, _ = pyramid(shifted, weight=weight)
    for level in range(3):
        covered = covers[level] > 0
        assert torch.allclose(again[level][covered], maps[level][covered], atol=1e-4)


def test_a_subset_at_its_patch_ids_gives_the_cells_of_the_whole_grid_weighted():
    """What the H-JEPA loss runs: a block's few tokens at their ids, padding left out, against the whole grid with
    weight 1 on the block (trained laterals and top-down maps, so the order of the affine maps and the pooling is
    what is checked)."""
    torch.manual_seed(1)
    grid = (5, 7)
    pyramid = TokenPyramid(PyramidConfig(levels=3, width=6), 5, grid)
    for p in pyramid.parameters():
        p.data.normal_()
    tokens = torch.randn(3, 35, 5)
    idx = torch.stack([torch.randperm(35)[:9] for _ in range(3)])  # (B, 9): 8 patches and one padded slot
    valid = torch.ones(3, 9, dtype=torch.bool)
    valid[:, -1] = False
    weight = torch.zeros(3, 35).scatter_(1, idx[:, :-1], 1.0)
    whole, whole_covers = pyramid(tokens, weight=weight)
    subset, covers = pyramid(gather_tokens(tokens, idx), idx, valid)
    for a, b, cover, whole_cover in zip(whole, subset, covers, whole_covers):
        assert torch.equal(cover, whole_cover)
        assert torch.allclose(a[cover > 0], b[cover > 0], atol=1e-5)


def test_a_coarse_cell_is_a_square_of_patches_not_a_run_of_the_token_list():
    """On a 4 x 4 grid, the first 2 x 2 cell holds tokens 0, 1, 4, 5 (the H-JEPA reference pools 0, 1, 2, 3)."""
    pyramid = TokenPyramid(PyramidConfig(levels=2, width=1), 1, (4, 4))
    assert cell_index(torch.arange(16), (4, 4), 1).tolist() == [0, 0, 1, 1, 0, 0, 1, 1, 2, 2, 3, 3, 2, 2, 3, 3]
    assert cell_index(torch.arange(15), (3, 5), 1).tolist() == [0, 0, 1, 1, 2, 0, 0, 1, 1, 2, 3, 3, 4, 4, 5]
    assert pyramid.per_patch([torch.zeros(1, 4, 4, 1), torch.arange(4.0).reshape(1, 2, 2, 1)])[0, :, 1].tolist() == \
        [0, 0, 1, 1, 0, 0, 1, 1, 2, 2, 3, 3, 2, 2, 3, 3]


def test_a_perfect_prediction_has_zero_loss_at_every_level(tiny_overrides):
    method, batch = _method_and_batch("hjepa_tiny", tiny_overrides + SMALL + ["method.target_norm=none",
                                                                              "method.view=null"])
    with torch.no_grad():
        full = method.target.net(method.normalize(batch["inputs"]))

    def perfect(context, ctx_idx, tgt_idx, ctx_valid, tgt_valid):
        B, K, Lt = tgt_idx.shape
        return gather_tokens(full, tgt_idx.reshape(B, K * Lt)).reshape(B, K, Lt, -1)

    out = method(batch)
    assert all(out.logs[f"level{level}_loss"] > 1e-3 for level in range(3))
    weights = method.config.level_weights
    assert torch.isclose(out.logs["pred_loss"], sum(w * out.logs[f"level{i}_loss"] for i, w in enumerate(weights)))
    method.predictor.forward = perfect
    out = method(batch)
    assert all(out.logs[f"level{level}_loss"] < 1e-6 for level in range(3))


def test_the_pyramid_learns_its_ema_copy_follows(tiny_overrides):
    method, batch = _method_and_batch("hjepa_tiny", tiny_overrides + SMALL + LATERAL)
    method(batch).loss.backward()
    assert method.pyramid.lateral[2][0].weight.grad.abs().sum() > 0
    assert method.pyramid.top_down[0][0].weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in method.target_pyramid.copy.parameters())
    with torch.no_grad():
        for p in method.pyramid.parameters():
            p.add_(1.0)
    before = method.target_pyramid.copy.lateral[0][0].weight.clone()
    logs = method.after_step(0, 10)
    moved = method.target_pyramid.copy.lateral[0][0].weight - before
    assert torch.allclose(moved, torch.full_like(moved, 1 - logs["momentum"]), atol=1e-6)


def test_the_eval_encoder_reads_every_level_and_exports_its_vit(tiny_overrides):
    method, batch = _method_and_batch("hjepa_tiny", tiny_overrides + SMALL + LATERAL)
    encoder = method.eval_encoder("context")
    assert isinstance(encoder, PyramidEncoder) and encoder.grid == (4, 4) and encoder.in_chans == 1
    features = encoder(method.normalize(batch["inputs"][:3]))
    assert features.shape == (3, 16, 3 * 8)
    coarse = encoder.level_tokens(features, 2)  # level 2: one cell over the 4 x 4 grid
    assert torch.allclose(coarse, coarse[:, :1].expand_as(coarse))
    assert backbone_of(encoder) is method.encoder and backbone_of(method.encoder) is method.encoder
    assert method.eval_encoder("target").backbone is method.target.copy


def test_a_tokens_patch_level_is_the_encoders_tokens_and_the_coarser_levels_learn(tiny_overrides):
    method, batch = _method_and_batch("hjepa_tiny", tiny_overrides + SMALL)
    assert method.config.pyramid.patch_level == "tokens"
    assert not list(method.pyramid.lateral[0].parameters()) and not list(method.pyramid.top_down[0].parameters())
    method(batch).loss.backward()
    assert method.pyramid.lateral[1][0].weight.grad.abs().sum() > 0
    assert method.pyramid.top_down[1][0].weight.grad.abs().sum() > 0
    encoder = method.eval_encoder("context").eval()
    x = method.normalize(batch["inputs"][:3])
    with torch.no_grad():
        features, tokens = encoder(x), method.encoder(x)
    assert features.shape == (3, 16, tokens.shape[-1] + 2 * 8)
    assert torch.equal(encoder.level_tokens(features, 0), tokens) and encoder.level_tokens(features, 2).shape[-1] == 8


@pytest.mark.parametrize("overrides,message", [
    (["method.level_weights=[1.0, 0.5]"], "one weight per pyramid level (3)"),
    (["method.target_norm=batch"], "must be layer or none"),
    (["method.varcov.weight=0.1", "method.sigreg_on=both_pooled", "method.global_views=1"], "one set of embeddings"),
])
def test_bad_settings_are_refused(tiny_overrides, overrides, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        build_config(recipe_dict("hjepa_tiny"), tiny_overrides + overrides)


def test_level_probes_refuse_a_method_without_a_pyramid(tiny_overrides, tmp_path):
    method, _ = _method_and_batch("ijepa_tiny", tiny_overrides)
    cfg = fill_spec(build_config(recipe_dict("ijepa_tiny"), tiny_overrides), DATA)
    with pytest.raises(ConfigError, match="reads a pyramid encoder"):
        LevelProbes().run(EvalContext(cfg, tmp_path, method, method, DATA, torch.device("cpu")))


def test_hjepa_trains_evaluates_per_level_embeds_and_exports_on_the_command_line(tmp_path, tiny_overrides):
    run = tmp_path / "run"

    def cli(*args):
        done = run_cli([str(a) for a in args], timeout=600)
        assert done.code == 0, done.err
        return done.out

    cli("train", "hjepa_tiny", "--out", run, "--steps", 3, "--quiet", *tiny_overrides, *SMALL)
    table = cli("eval", run, "eval.max_train=300")
    assert "Per pyramid level" in table and "level 2" in table
    results = json.loads((run / "eval.json").read_text())
    assert len(results["levels"]) == 3
    for entry in results["levels"]:
        for probe in ("linear", "knn"):
            assert set(entry[probe]) == {"trained", "random_init"}
            assert all(0 <= v <= 1 for v in entry[probe].values())
    assert {"trained", "random_init", "raw_input"} <= set(results["linear"])
    assert (run / "plots" / "levels_pca.png").is_file() and (run / "plots" / "pca.png").is_file()
    image = tmp_path / "digit.png"
    Image.fromarray(DATA.test.images[0, 0].numpy()).save(image)
    cli("embed", run, image, "--out", tmp_path / "f.npy")
    assert np.load(tmp_path / "f.npy").shape == (1, 32 + 2 * 8)  # level 0: the 32-d tokens; levels 1-2: 8 each
    cli("export-hf", run, "--out", tmp_path / "hf")
    assert (tmp_path / "hf" / "model.safetensors").is_file()


def _temporal(frames=8, scale=(0.25, 0.75), **settings):
    spec = InputSpec("video", 3, (16, 16), frames=frames)
    encoder = VideoModality().build_encoder(ViTConfig(width=32, depth=2, heads=2, patch_size=8, tubelet=2), spec)
    config = TemporalHJepaConfig(predictor=PredictorConfig(width=16, depth=1, heads=2),
                                 level2=PredictorConfig(width=16, depth=1, heads=2),
                                 masks=[TubeMaskConfig(kind="future", temporal_scale=scale)], **settings)
    config.validate()
    return TemporalHJepa(config, encoder, Normalize([0.5] * 3, [0.25] * 3), spec)


def test_temporal_level_two_pools_windows_and_predicts_the_ones_after_the_context():
    torch.manual_seed(0)
    model = _temporal()  # 4 time steps of 2 x 2 tokens, windows of 2 steps
    tokens = torch.randn(2, 16, 32)
    idx = torch.arange(16).expand(2, -1)
    states, counts = model.window_states(tokens, idx)
    assert torch.allclose(states[:, 1], tokens[:, 8:].mean(1), atol=1e-6) and counts.tolist() == [[8, 8]] * 2
    # context: 1 step in sample 0, 3 steps in sample 1 (padded): only sample 0 has a window wholly ahead
    ctx_idx = torch.tensor([[0, 1, 2, 3, 0, 0, 0, 0, 0, 0, 0, 0], list(range(12))])
    ctx_valid = torch.tensor([[True] * 4 + [False] * 8, [True] * 12])
    distance, ahead = model.level2_distance(tokens[:, :12], ctx_idx, ctx_valid, tokens)
    assert ahead.tolist() == [[False, True], [False, False]] and distance.shape == (2, 2)


def test_temporal_step_trains_both_levels_and_its_energy_adds_level_two():
    torch.manual_seed(0)
    model = _temporal(scale=(0.75, 0.75))  # one step of context: window 1 lies ahead
    batch = {"inputs": torch.rand(2, 3, 8, 16, 16), "step": 0, "seed": 1,
             **model.sample_extras()(seed=0, epoch=0, indices=[0, 1])}
    out = model(batch)
    assert {"pred_loss", "level2_loss"} <= out.logs.keys()
    assert torch.isclose(out.loss, out.logs["pred_loss"] + out.logs["level2_loss"])
    out.loss.backward()
    assert model.level2.mask_tokens.grad.abs().sum() > 0 and model.encoder.blocks[0].attn.qkv.weight.grad is not None
    clips = model.normalize(torch.rand(3, 3, 8, 16, 16))
    ctx, tgt = future_split(model.encoder.grid, 1)
    with torch.no_grad():
        total = model.prediction_energy(clips, ctx, tgt)
        level1 = super(TemporalHJepa, model).prediction_energy(clips, ctx, tgt)
    assert total.shape == level1.shape == (3, 12)
    assert torch.allclose(total[:, :4], level1[:, :4]) and (total[:, 4:] > level1[:, 4:]).all()  # step 1: window 0
    per_clip, per_step = surprise(model, (torch.rand(5, 3, 8, 16, 16) * 255).to(torch.uint8))
    assert per_clip.shape == (5,) and per_step.shape == (5, 2)


def test_temporal_settings_are_checked():
    with pytest.raises(ValueError, match="kind: future"):
        TemporalHJepaConfig(masks=[TubeMaskConfig()]).validate()
    with pytest.raises(ValueError, match="at least 2 windows"):
        _temporal(frames=4, window=2)


def test_hjepa_video_trains_evaluates_and_scores_surprise_on_the_command_line(tmp_path):
    run = tmp_path / "run"
    tiny = [*TINY_VIDEO, "method.window=1", "data.train_size=96", "method.level2.width=16", "method.level2.depth=1",
            "method.level2.heads=2"]
    for args in (("train", "hjepa_video_tiny", "--out", run, "--steps", 2, "--quiet", *tiny),
                 ("eval", run), ("surprise", run, "--out", tmp_path / "q.json", "--quadruplets", 4)):
        done = run_cli([str(a) for a in args], timeout=600)
        assert done.code == 0, done.err
    assert "level2_loss" in (run / "metrics.jsonl").read_text()
    assert "attentive" in json.dumps(json.loads((run / "eval.json").read_text()))
    scores = json.loads((tmp_path / "q.json").read_text())
    assert 0 <= scores["pairwise_accuracy"] <= 1 and "random_init" in scores
