"""Causal-JEPA's parts: masks over time x object slots, drawn afresh per sample, and the slot predictor that fills
hidden slots without reading them."""

import numpy as np
import pytest
import torch

from openjepa.masks.object_slots import SlotMaskConfig, SlotMasker, SlotMaskExtras
from openjepa.nn.slot_predictor import SlotPredictor, SlotPredictorConfig


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
