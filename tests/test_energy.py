"""The energy view: the latent variable z (``nn/latent.py``) and the free energy F = min_z E, shared by the image,
video and world-model methods; V-JEPA's predictor with z; surprise as a use of F; pairs and their energies
(``openjepa energy``, ``openjepa.energy`` / ``free_energy``), landscapes; the fork task (``latentz_fork_tiny``)."""

import json

import numpy as np
import pytest
import torch
from cli_process import run_cli
from conftest import TINY, TINY_VIDEO

from openjepa.core.protocols import PredictsTargets
from openjepa.data.fork_sprites import WAYS, make_fork_sprites, other_futures
from openjepa.data.sprites import make_physics_quads
from openjepa.eval.energy import Pairs, landscape, pair_tokens, plane_coords, slice_directions, splice
from openjepa.eval.surprise import surprise
from openjepa.masks.tubes import future_split
from openjepa.modalities.registry import load_data
from openjepa.nn.latent import LatentConfig, LatentVariable
from openjepa.nn.predictor import gather_tokens
from openjepa.objectives.distances import token_distance
from openjepa.objectives.energy import PredictionProblem, free_energy, latent_energies
from openjepa.runs.build import build_method
from openjepa.runs.config import build_config, recipe_dict
from openjepa.runs.prepare import fill_spec

FORK = TINY_VIDEO + ["data.train_size=64", "method.latent.codes=3", "method.latent.dim=4"]


def _fork_method(*overrides, seed=0):
    """A tiny latentz_fork_tiny method (built as its training starts) and 8 fork clips in [0, 1]."""
    cfg = build_config(recipe_dict("latentz_fork_tiny"), FORK + list(overrides))
    cfg = fill_spec(cfg, load_data(cfg.data))
    torch.manual_seed(seed)
    return build_method(cfg).eval(), make_fork_sprites(8, seed=3, frames=4, size=16).clips.float() / 255


# -- the built-in fork task ----------------------------------------------------------------------------------------

def test_fork_sprites_turn_one_of_three_ways_at_random_and_never_back():
    clips = make_fork_sprites(600, seed=5, frames=8, size=32)
    again = make_fork_sprites(600, seed=5, frames=8, size=32)
    assert torch.equal(clips.clips, again.clips)
    entry, taken = clips.labels["entry"].numpy(), clips.labels["exit"].numpy()
    turns = (taken - entry) % 4
    assert set(turns) == {0, 1, 3}  # straight on or a quarter turn; 2 (back) never
    counts = np.bincount(turns, minlength=4)[[0, 1, 3]]
    assert counts.min() > 150  # about a third each
    # the first half shows the way in only: the sprite moves along the entry way until the fork
    v = clips.velocity.numpy()
    steps = {0: (1, 0), 1: (0, -1), 2: (-1, 0), 3: (0, 1)}
    direction = np.sign(v[:, 0])
    assert all(tuple(direction[i]) == steps[e] for i, e in enumerate(entry[:50]))
    assert all(tuple(np.sign(v[i, 5])) == steps[t] for i, t in enumerate(taken[:50]))
    assert clips.classes["exit"] == WAYS


def test_other_futures_share_the_first_half_and_leave_by_the_other_ways():
    test = make_fork_sprites(40, seed=12, frames=8, size=32)
    others = other_futures(test)
    taken = test.labels["exit"]
    for other in others:
        assert torch.equal(other.clips[:, :, :4], test.clips[:, :, :4])  # the same scene up to the fork
        assert not (other.labels["exit"] == taken).any()
        assert ((other.labels["exit"] - test.labels["entry"]) % 4 != 2).all()
    assert not (others[0].labels["exit"] == others[1].labels["exit"]).any()
    with pytest.raises(ValueError, match="back the way"):
        make_fork_sprites(4, seed=1, exits=(make_fork_sprites(4, seed=1).labels["entry"].numpy() + 2) % 4)


# -- the latent variable --------------------------------------------------------------------------------------------

def _toy_problem(B=6, L=3, D=5, width=8, seed=0):
    """A predictor that adds the latent's embedding (projected) to a fixed guess: E depends on z."""
    gen = torch.Generator().manual_seed(seed)
    base, targets = torch.randn(B, L, D, generator=gen), torch.randn(B, L, D, generator=gen)
    proj = torch.randn(width, D, generator=gen)
    latent_holder = {}

    def predict(z):
        if z is None:
            return base[:, None]
        cond = latent_holder["latent"].condition(z).embedding.view(B, z.shape[1], -1)
        return base[:, None] + (cond @ proj)[:, :, None]

    return PredictionProblem(predict, targets, "l2"), latent_holder


def test_discrete_free_energy_is_the_minimum_over_codes_and_training_balances_them():
    problem, holder = _toy_problem()
    latent = holder["latent"] = LatentVariable(LatentConfig(kind="discrete", codes=4, dim=3, capacity=1.0), 8, 5)
    per_code = latent_energies(latent, problem)  # (B, 4)
    latent.eval()
    choice = free_energy(latent, problem)
    assert torch.allclose(problem.per_sample(choice.energy), per_code.min(1).values)
    assert torch.equal(choice.index, per_code.argmin(1))
    latent.train()
    with torch.enable_grad():
        balanced = free_energy(latent, problem)
    assert torch.bincount(balanced.index, minlength=4).max() <= 2  # capacity 1.0 x 6 / 4 rows, rounded up
    assert balanced.logs["code_perplexity"] >= 3.0 - 1e-5  # at least 3 codes in use


def test_continuous_z_is_searched_sparse_and_detached_and_a_free_z_fits_better():
    problem, holder = _toy_problem()
    at_zero = {}
    for regularize in (True, False):
        latent = holder["latent"] = LatentVariable(LatentConfig(kind="continuous", dim=6, steps=10, step_size=0.3,
                                                                regularize=regularize, sparsity=0.5), 8, 5)
        torch.manual_seed(0)
        latent.embed.weight.data = torch.randn_like(latent.embed.weight)
        choice = free_energy(latent, problem)
        assert not choice.z.requires_grad
        zero = problem.per_sample(problem.energies(torch.zeros(6, 1, 6))[:, 0])
        assert (problem.per_sample(choice.energy) < zero).all()  # the search lowers every sample's energy
        at_zero[regularize] = (choice, latent)
    sparse, free = at_zero[True][0], at_zero[False][0]
    assert (sparse.z == 0).float().mean() > (free.z == 0).float().mean()
    assert "z_active" in sparse.logs and "z_active" not in free.logs


def test_latent_settings_are_checked():
    for bad in ({"kind": "gaussian"}, {"codes": 0}, {"capacity": 0.5}, {"kind": "continuous", "steps": 0},
                {"step_size": 0}):
        with pytest.raises(ValueError, match="method.latent"):
            LatentConfig(**bad).validate()


# -- V-JEPA with z, and surprise through F -------------------------------------------------------------------------

def test_vjepa_without_z_scores_as_before_and_surprise_is_its_free_energy():
    method, clips = _fork_method("method.latent.kind=none")
    assert isinstance(method, PredictsTargets) and not method.latent.active
    x = method.normalize(clips)
    ctx, tgt = future_split(method.encoder.grid, 1)
    B = len(x)
    with torch.no_grad():
        targets = method.target_features(x)
        context = method.encoder.encode(method.encoder.tokenize(x), ctx.expand(B, -1))
        pred = method.predictor(context, ctx.expand(B, -1), tgt.expand(B, -1)[:, None],
                                mask_index=method.future_mask_index())[:, 0]
        first = gather_tokens(targets.view(B, 2, -1, targets.shape[-1])[:, :1].expand(-1, 2, -1, -1)
                              .reshape(targets.shape), tgt.expand(B, -1))
        by_hand = token_distance(pred + first, gather_tokens(targets, tgt.expand(B, -1)), "l1")
        assert torch.allclose(method.prediction_energy(x, ctx, tgt), by_hand, atol=1e-6)
    per_clip, per_step = surprise(method, (clips * 255).round().byte(), context_steps=1)
    assert torch.allclose(per_clip, by_hand.mean(1), atol=1e-5)


def test_vjepa_with_discrete_z_trains_on_the_minimum_over_codes():
    method, clips = _fork_method("method.latent.capacity=0")
    assert list(method.latent.parameters())
    method.train()
    batch = {"inputs": clips, "step": 0, "seed": 0, "epoch": 0, "index": torch.arange(len(clips))}
    out = method(batch)
    out.loss.backward()
    assert method.latent.codes.grad is not None and method.latent.codes.grad.abs().sum() > 0
    method.eval()
    x = method.normalize(clips)
    ctx, tgt = future_split(method.encoder.grid, 1)
    with torch.no_grad():
        problem = method.prediction_problem(x, ctx.expand(len(x), -1), tgt.expand(len(x), -1))
        per_code = latent_energies(method.latent, problem)  # (B, 3)
        assert torch.allclose(method.prediction_energy(x, ctx, tgt).mean(1), per_code.min(1).values, atol=1e-6)
    # the training loss is the same minimum (no balancing at capacity 0), plus the varcov term it logs
    assert abs(float(out.logs["future_loss"]) - float(per_code.min(1).values.mean())) < 1e-4


def test_surprise_on_physics_quadruplets_reads_the_same_through_f():
    method, _ = _fork_method("method.latent.kind=none")
    possible, _, _ = make_physics_quads(4, seed=3, frames=4, size=16)
    per_clip, _ = surprise(method, possible.clips)
    x = method.normalize(possible.clips.float() / 255)
    with torch.no_grad():
        ctx, tgt = future_split(method.encoder.grid, 1)
        problem = method.prediction_problem(x, ctx.expand(len(x), -1), tgt.expand(len(x), -1))
        direct = problem.per_sample(token_distance(problem.predict(None)[:, 0].float(), problem.targets.float(),
                                                   "l1"))
    assert torch.allclose(per_clip, direct, atol=1e-6)


# -- pairs, their energies and landscapes --------------------------------------------------------------------------

def test_pairs_split_on_the_token_grid_and_shuffled_pairs_are_scored():
    method, clips = _fork_method()
    ctx, tgt = pair_tokens(method)
    assert torch.equal(torch.cat([ctx, tgt]), torch.arange(method.encoder.grid[0] * 16))
    joined = splice(method, clips[:2], clips[2:4])
    assert torch.equal(joined[:, :, :2], clips[:2, :, :2]) and torch.equal(joined[:, :, 2:], clips[2:4, :, 2:])
    report = Pairs(method, clips).shuffled()
    assert set(report) >= {"auroc", "energy_gap", "true_energy", "shuffled_energy"} and report["pairs"] == 8
    assert 0 <= report["auroc"] <= 1


def test_a_landscape_is_f_over_a_slice_through_the_true_y():
    method, clips = _fork_method()
    pairs = Pairs(method, clips)
    own = torch.arange(len(clips))
    targets = pairs.problem(own, own).targets
    directions = slice_directions(targets)
    coords = torch.linspace(-1, 1, 3)
    copies = torch.zeros(9, dtype=torch.long)
    grid = landscape(method.latent, pairs.problem(copies, copies), directions, coords)
    assert grid.shape == (3, 3)
    true_f = pairs.free_energies(own[:1], own[:1])
    assert torch.allclose(grid[1, 1], true_f[0], atol=1e-5)  # the centre is the true y
    point = targets[0] + (0.5 * directions[0] - 0.25 * directions[1]).view(targets[0].shape)
    assert torch.allclose(plane_coords(targets[0], directions, point[None]), torch.tensor([[0.5, -0.25]]), atol=1e-4)


# -- the command line, end to end ----------------------------------------------------------------------------------

def test_fork_recipe_trains_evaluates_and_scores_energies(tmp_path):
    run = tmp_path / "run"
    done = run_cli(["train", "latentz_fork_tiny", "--out", str(run), "--steps", "3", *FORK])
    assert done.code == 0, done.err
    done = run_cli(["eval", str(run)])
    assert done.code == 0, done.err
    found = json.loads((run / "eval.json").read_text())["multimodal"]
    for key in ("best_of_k_error", "mean_error", "energy_auroc", "energy_gap", "other_futures_energy"):
        assert np.isfinite(found[key]), key
    assert found["k"] == 3 and found["best_of_k_error"] <= found["mean_error"]
    assert (run / "plots" / "futures_landscapes.png").stat().st_size > 0
    out = tmp_path / "energy.json"
    done = run_cli(["energy", str(run), "--pairs", "16", "--out", str(out)])
    assert done.code == 0, done.err
    report = json.loads(out.read_text())
    assert 0 <= report["auroc"] <= 1 and report["latent"] == "discrete" and "random_init" in report
    assert (run / "plots" / "energy_landscapes.png").stat().st_size > 0
    # a user's own file is never overwritten
    mine = tmp_path / "mine.json"
    mine.write_text('{"notes": 1}')
    done = run_cli(["energy", str(run), "--pairs", "16", "--out", str(mine)])
    assert done.code == 2 and mine.read_text() == '{"notes": 1}' and len(done.err.strip().splitlines()) == 1


def test_energy_of_image_files_through_the_api_and_the_cli(tmp_path):
    from PIL import Image

    import openjepa

    run = tmp_path / "img"
    assert run_cli(["train", "ijepa_tiny", "--out", str(run), "--steps", "2", *TINY]).code == 0
    rng = np.random.default_rng(0)
    files = []
    for k in range(2):
        files.append(tmp_path / f"{k}.png")
        Image.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(files[-1])
    free = openjepa.free_energy(run, [files[0]], [files[1]])
    each = openjepa.energy(run, [files[0]], [files[1]])
    assert free.shape == (1,) and each.shape == (1, 1) and torch.allclose(free, each[:, 0])
    done = run_cli(["energy", str(run), str(files[0]), str(files[1])])
    assert done.code == 0 and f"{float(free[0]):.4f}" in done.out
