"""I-JEPA's predictor with a latent variable z (``method.latent``): without one the block loss is I-JEPA's own; a
discrete z takes per image the code of least energy (balanced in training), a continuous one is searched and
detached; the energies an image run exposes (PredictsTargets) agree with its predictions; H-JEPA refuses both."""

import pytest
import torch
from cli_process import run_cli
from conftest import TINY

from openjepa.core.errors import ConfigError
from openjepa.core.protocols import PredictsTargets
from openjepa.data.digits import load_digits
from openjepa.data.loader import TrainBatches
from openjepa.nn.latent import balanced_choice
from openjepa.nn.predictor import gather_tokens
from openjepa.objectives.distances import masked_mean, token_distance
from openjepa.objectives.energy import free_energy, latent_energies
from openjepa.objectives.normalize import normalize_targets
from openjepa.runs.build import build_method
from openjepa.runs.config import build_config, recipe_dict
from openjepa.runs.prepare import fill_spec

DATA = load_digits(size=16)
SAME_BLOCKS = ["method.mask.target_scale=[0.25, 0.25]", "method.mask.target_aspect=[1.0, 1.0]"]  # 2 x 2 blocks


def _method_and_batch(overrides, recipe="ijepa_tiny"):
    cfg = fill_spec(build_config(recipe_dict(recipe), TINY + ["method.view=null", *overrides]), DATA)
    torch.manual_seed(0)
    method = build_method(cfg)
    return method, next(TrainBatches(DATA.train, 16, 0, extras=method.sample_extras()).iterate(3, 4))


def _block_losses(method, batch, condition=None):
    """The block loss written out, per image and block ``(B, K)``: the predictor's outputs (under ``condition``, a
    latent's :class:`~openjepa.nn.latent.Conditioning` of B rows) against the normalised target tokens, averaged
    over each block's real tokens."""
    images = method.normalize(batch["inputs"])
    ctx_idx, ctx_valid, tgt_idx, tgt_valid = (batch[k] for k in ("ctx_idx", "ctx_valid", "tgt_idx", "tgt_valid"))
    context = method.encoder.encode(method.encoder.tokenize(images), ctx_idx, ctx_valid)
    full = normalize_targets(method.target.net(images), method.config.target_norm)
    B, K, Lt = tgt_idx.shape
    targets = gather_tokens(full, tgt_idx.reshape(B, K * Lt)).reshape(B, K, Lt, -1)
    pred = method.predictor(context, ctx_idx, tgt_idx, ctx_valid, tgt_valid, condition=condition)
    return masked_mean(token_distance(pred, targets, method.config.distance), tgt_valid)


def _halves(method, images):
    """Token ids of the left and right halves of the grid, and the images' prediction problem between them."""
    h, w = method.encoder.grid
    ids = torch.arange(h * w).reshape(h, w)
    left, right = ids[:, : w // 2].flatten(), ids[:, w // 2 :].flatten()
    B = len(images)
    return left, right, method.prediction_problem(images, left.expand(B, -1), right.expand(B, -1))


def test_without_a_latent_the_block_loss_is_i_jepas_own():
    method, batch = _method_and_batch([])
    assert not batch["tgt_valid"].all()  # padded blocks: each block's mean is over its real tokens
    assert not list(method.latent.parameters())
    with torch.no_grad():
        out = method(batch)
        assert torch.equal(out.logs["pred_loss"], _block_losses(method, batch).mean())
    assert not {"code_perplexity", "z_norm"} & out.logs.keys()


def test_a_discrete_latent_takes_each_images_cheapest_code():
    method, batch = _method_and_batch(SAME_BLOCKS + ["method.latent={kind: discrete, codes: 3, capacity: 0}"])
    assert batch["tgt_valid"].all()
    with torch.no_grad():
        method.latent.codes.mul_(0.3)  # codes near each other: images differ in their choice
        out = method(batch)
        per_code = torch.stack([_block_losses(method, batch, method.latent.condition(code.expand(16, 1, -1))).mean(1)
                                for code in method.latent.codes])
    assert len(per_code.argmin(0).unique()) > 1
    torch.testing.assert_close(out.logs["pred_loss"], per_code.amin(0).mean())
    assert 1 <= out.logs["code_perplexity"] <= 3
    method(batch).loss.backward()
    learned = method.latent.codes.grad.abs().sum(1) > 0
    assert learned.tolist() == [code in per_code.argmin(0) for code in range(3)]  # winners take all


def test_balancing_caps_each_codes_share_of_a_batch():
    energies = torch.rand(10, 3)
    energies[:, 0] -= 1  # code 0 is every row's cheapest
    index = balanced_choice(energies, 4)
    assert torch.bincount(index, minlength=3).tolist()[0] == 4 and (index >= 0).all()
    method, batch = _method_and_batch(["method.latent={kind: discrete, codes: 4, capacity: 1.0}"])
    with torch.enable_grad():
        assert torch.isclose(method(batch).logs["code_perplexity"], torch.tensor(4.0))  # 4 images per code


def test_a_continuous_latent_is_searched_below_zero_and_detached():
    method, batch = _method_and_batch(["method.latent={kind: continuous, steps: 5, step_size: 0.5, sparsity: 0.1}"])
    images = method.normalize(batch["inputs"])
    *_, problem = _halves(method, images)
    choice = free_energy(method.latent, problem)
    assert not choice.z.requires_grad and choice.logs["z_active"] > 0
    at_zero = latent_energies(method.latent, problem)[:, 0]
    found = problem.per_sample(choice.energy)
    assert (found <= at_zero + 1e-6).all() and found.mean() < at_zero.mean()
    out = method(batch)
    assert {"z_norm", "z_active"} <= out.logs.keys()
    out.loss.backward()
    assert method.latent.embed.weight.grad.abs().sum() > 0


def test_an_image_run_predicts_targets_and_its_energy_is_their_distance():
    method, batch = _method_and_batch([])
    method.eval()
    assert isinstance(method, PredictsTargets) and not method.predicts_change
    images = method.normalize(batch["inputs"][:4])
    left, right, _ = _halves(method, images)
    with torch.no_grad():
        energy = method.prediction_energy(images, left, right)
        pred = method.predict_targets(images, left.expand(4, -1), right.expand(4, -1))
        features = method.target_features(images)
    assert energy.shape == (4, len(right)) and features.shape == (4, 16, method.encoder.width)
    torch.testing.assert_close(energy, token_distance(pred, features[:, right], method.config.distance))

    method, _ = _method_and_batch(["method.latent={kind: discrete, codes: 3}"])
    method.eval()
    with torch.no_grad():
        energy = method.prediction_energy(images, left, right).mean(1)
        per_code = latent_energies(method.latent, _halves(method, images)[2])  # (B, codes)
    torch.testing.assert_close(energy, per_code.amin(1))


def test_hjepa_has_no_latent_and_no_token_energies():
    with pytest.raises(ConfigError, match="method.latent.kind must be none"):
        build_config(recipe_dict("hjepa_tiny"), TINY + ["method.latent.kind=discrete"])
    method, _ = _method_and_batch(["method.pyramid.width=8"], recipe="hjepa_tiny")
    assert not isinstance(method, PredictsTargets)


@pytest.mark.parametrize("setting,words", [("method.latent.kind=gaussian", ["method.latent.kind", "discrete"]),
                                           ("method.latent.codes=0", ["method.latent.codes", ">= 1"])])
def test_a_bad_latent_gets_one_clear_line(tmp_path, setting, words):
    done = run_cli(["train", "ijepa_tiny", setting, "--out", tmp_path / "r", "--steps", "1"], timeout=60)
    assert done.code == 2 and "Traceback" not in done.err, done.err
    lines = done.err.strip().splitlines()
    assert len(lines) == 1 and all(word in lines[0] for word in words), lines
    assert not (tmp_path / "r").exists()
