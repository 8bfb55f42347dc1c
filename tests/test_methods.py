"""I-JEPA's optional parts: augmented views, the whole-image term and its projector."""

import pytest
import torch

from openjepa.data.digits import load_digits
from openjepa.data.loader import TrainBatches
from openjepa.runs.build import build_method
from openjepa.runs.config import build_config, recipe_dict
from openjepa.runs.prepare import fill_spec

DATA = load_digits(size=16)
WHOLE_IMAGE = ["method.global_weight=1.0", "method.sigreg.weight=0.1",
               "method.sigreg_on=context_pooled", "method.view={scale: [0.3, 1.0], jitter: 0.8}"]


def _method_and_batch(overrides, step=3):
    cfg = fill_spec(build_config(recipe_dict("ijepa_tiny"), overrides), DATA)
    torch.manual_seed(0)
    method = build_method(cfg)
    return method, next(TrainBatches(DATA.train, 16, 0, extras=method.sample_extras()).iterate(step, step + 1))


def test_whole_image_term_trains_encoder_and_projector_but_not_the_ema_target(tiny_overrides):
    method, batch = _method_and_batch(tiny_overrides + WHOLE_IMAGE)
    out = method(batch)
    assert {"pred_loss", "global_loss", "sigreg"} <= out.logs.keys() and out.logs["global_loss"] > 0
    assert torch.isclose(out.loss, out.logs["pred_loss"] + out.logs["global_loss"] + 0.1 * out.logs["sigreg"])
    out.loss.backward()
    assert method.projector[0].weight.grad.abs().sum() > 0
    assert method.encoder.patch_embed.proj.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in method.target.copy.parameters())


def test_views_are_a_function_of_the_batch_seed(tiny_overrides):
    method, batch = _method_and_batch(tiny_overrides + WHOLE_IMAGE)
    with torch.no_grad():
        first, again = method(batch).loss, method(batch).loss
        other = method({**batch, "seed": batch["seed"] + 1}).loss
    assert first == again and first != other


def test_whole_image_term_needs_a_projector(tiny_overrides):
    with pytest.raises(ValueError, match="global_weight > 0 needs method.projector"):
        build_config(recipe_dict("ijepa_tiny"), tiny_overrides + ["method.projector=null", "method.global_weight=1"])


def test_sigreg_on_both_sides_of_the_whole_image_term(tiny_overrides):
    with pytest.raises(ValueError, match="both_pooled"):
        build_config(recipe_dict("ijepa_sigreg_tiny"), tiny_overrides + ["method.global_weight=0", "method.global_views=0",
                                                                         "method.sigreg_on=both_pooled"])
    with pytest.raises(ValueError, match="global_views"):
        build_config(recipe_dict("ijepa_sigreg_tiny"), tiny_overrides + ["method.global_weight=0"])
    method, batch = _method_and_batch(tiny_overrides + ["method.sigreg_on=both_pooled"])
    one_side, _ = _method_and_batch(tiny_overrides)
    with torch.no_grad():
        both, ctx_only = method(batch).logs["sigreg"], one_side(batch).logs["sigreg"]
    assert torch.isfinite(both) and both != ctx_only


def test_masked_views_join_the_whole_image_term(tiny_overrides):
    method, batch = _method_and_batch(tiny_overrides + WHOLE_IMAGE + ["method.global_views=2", "method.global_keep=0.5"])
    plain, _ = _method_and_batch(tiny_overrides + WHOLE_IMAGE)
    with torch.no_grad():
        first, again, without = (m(batch).logs["global_loss"] for m in (method, method, plain))
    assert first == again and first != without  # the random halves are drawn from the batch seed
