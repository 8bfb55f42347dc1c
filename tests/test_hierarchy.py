"""H-JEPA: the pyramid pools real 2-D neighbourhoods of the patch grid, the level losses, the pyramid encoder that
evaluation, embed and export read, and the recipe end to end on the command line."""

import json

import numpy as np
import pytest
import torch
from cli_process import run_cli
from PIL import Image

from openjepa.core.errors import ConfigError
from openjepa.data.digits import load_digits
from openjepa.data.loader import TrainBatches
from openjepa.eval.task import EvalContext
from openjepa.eval.tasks.level_probes import LevelProbes
from openjepa.nn.predictor import gather_tokens
from openjepa.nn.pyramid import PyramidConfig, PyramidEncoder, TokenPyramid, backbone_of, pool_cells
from openjepa.runs.build import build_method
from openjepa.runs.config import build_config, recipe_dict
from openjepa.runs.prepare import fill_spec

DATA = load_digits(size=16)
SMALL = ["method.pyramid.width=8"]


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
    maps, covers = pyramid(tokens, weight)
    assert [tuple(m.shape[1:3]) for m in maps] == [(5, 6), (3, 3), (2, 2)]
    for level, side in enumerate((1, 2, 4)):
        expected = _cell_means(tokens, weight, grid, side)[..., :4]
        covered = covers[level] > 0
        assert torch.allclose(maps[level][covered], expected[covered], atol=1e-5)
        assert covers[level].sum() == weight.sum()  # every weighted patch counted once per level
    # tokens outside the weighted set change nothing
    shifted = tokens + 100 * (1 - weight)[..., None]
    again, _ = pyramid(shifted, weight)
    for level in range(3):
        covered = covers[level] > 0
        assert torch.allclose(again[level][covered], maps[level][covered], atol=1e-4)


def test_a_coarse_cell_is_a_square_of_patches_not_a_run_of_the_token_list():
    """On a 4 x 4 grid, the first 2 x 2 cell holds tokens 0, 1, 4, 5 (the H-JEPA reference pools 0, 1, 2, 3)."""
    pyramid = TokenPyramid(PyramidConfig(levels=2, width=1), 1, (4, 4))
    tokens = torch.arange(16.0).reshape(1, 16, 1)
    sums, counts = tokens.reshape(1, 4, 4, 1), torch.ones(1, 4, 4)
    pooled, weight = pool_cells(sums, counts)
    assert pooled[0, 0, 0, 0] == 0 + 1 + 4 + 5 and weight[0, 0, 0] == 4
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
    method, batch = _method_and_batch("hjepa_tiny", tiny_overrides + SMALL)
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
    method, batch = _method_and_batch("hjepa_tiny", tiny_overrides + SMALL)
    encoder = method.eval_encoder("context")
    assert isinstance(encoder, PyramidEncoder) and encoder.grid == (4, 4) and encoder.in_chans == 1
    features = encoder(method.normalize(batch["inputs"][:3]))
    assert features.shape == (3, 16, 3 * 8)
    coarse = encoder.level_tokens(features, 2)  # level 2: one cell over the 4 x 4 grid
    assert torch.allclose(coarse, coarse[:, :1].expand_as(coarse))
    assert backbone_of(encoder) is method.encoder and backbone_of(method.encoder) is method.encoder
    assert method.eval_encoder("target").backbone is method.target.copy


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
    assert np.load(tmp_path / "f.npy").shape == (1, 3 * 8)
    cli("export-hf", run, "--out", tmp_path / "hf")
    assert (tmp_path / "hf" / "model.safetensors").is_file()
