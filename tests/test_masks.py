import numpy as np
import pytest
import torch

from openjepa.data.images import ImageSet
from openjepa.data.loader import TrainBatches
from openjepa.masks import MultiBlockConfig, MultiBlockMasker, collate_block_masks, sample_block, sample_rng
from openjepa.methods.ijepa import BlockMaskExtras

GRID = (14, 14)


def _block_shape(block: np.ndarray) -> tuple[int, int, int, int]:
    rows, cols = np.flatnonzero(block.any(1)), np.flatnonzero(block.any(0))
    return rows[0], cols[0], len(rows), len(cols)


def test_blocks_are_whole_rectangles_with_configured_statistics():
    rng = np.random.default_rng(0)
    scale, aspect = (0.15, 0.2), (0.75, 1.5)
    areas, ratios, starts = [], [], {}
    for _ in range(4000):
        block = sample_block(rng, GRID, scale, aspect)
        top, left, h, w = _block_shape(block)
        assert block.sum() == h * w, "block is not a full rectangle"
        areas.append(h * w / (GRID[0] * GRID[1]))
        ratios.append(h / w)
        starts.setdefault(("row", h), []).append(top)
        starts.setdefault(("col", w), []).append(left)
    areas, ratios = np.array(areas), np.array(ratios)
    # rounding to whole tokens widens the ranges a little, never by more than a row/column
    assert 0.10 < areas.min() and areas.max() < 0.26 and abs(np.median(areas) - 0.175) < 0.03
    assert 0.5 < ratios.min() and ratios.max() < 2.0 and np.mean(ratios > 1) > 0.4
    # for each block size, every start position is reached, the last one too (the reference misses it)
    for (axis, extent), seen in starts.items():
        if len(seen) >= 200:
            assert set(seen) == set(range(GRID[0] - extent + 1)), (axis, extent)


def test_scale_and_aspect_are_drawn_independently():
    rng = np.random.default_rng(1)
    heights, widths = [], []
    for _ in range(4000):
        _, _, h, w = _block_shape(sample_block(rng, (64, 64), (0.1, 0.4), (0.5, 2.0)))
        heights.append(h)
        widths.append(w)
    area, ratio = np.array(heights) * np.array(widths), np.array(heights) / np.array(widths)
    # one shared uniform draw (the reference bug) makes these strongly correlated
    assert abs(np.corrcoef(area, np.log(ratio))[0, 1]) < 0.08


def test_context_excludes_targets_and_respects_min_context():
    masker = MultiBlockMasker(MultiBlockConfig(min_context=10), (7, 7))
    for index in range(300):
        draw = masker(seed=0, epoch=0, index=index)
        assert len(draw.targets) == 4
        targets = np.concatenate(draw.targets)
        assert not set(draw.context) & set(targets)
        assert len(draw.context) >= 10
        assert draw.context.max() < 49


def test_draw_is_a_function_of_seed_epoch_and_index():
    masker = MultiBlockMasker(MultiBlockConfig(), GRID)
    a, b = masker(3, 1, 17), masker(3, 1, 17)
    assert np.array_equal(a.context, b.context) and all(np.array_equal(x, y) for x, y in zip(a.targets, b.targets))
    c = masker(3, 2, 17)
    assert not (np.array_equal(a.context, c.context) and all(np.array_equal(x, y) for x, y in zip(a.targets, c.targets)))
    assert sample_rng(0, 0, 1).random() != sample_rng(0, 0, 2).random()


def test_collate_pads_blocks_whole():
    masker = MultiBlockMasker(MultiBlockConfig(), GRID)
    draws = [masker(0, 0, i) for i in range(8)]
    batch = collate_block_masks(draws)
    assert batch["tgt_idx"].shape[:2] == (8, 4)
    for i, d in enumerate(draws):
        assert batch["ctx_valid"][i].sum() == len(d.context)
        for k, t in enumerate(d.targets):
            assert torch.equal(batch["tgt_idx"][i, k][batch["tgt_valid"][i, k]], torch.as_tensor(t))


@pytest.mark.parametrize("workers", [0, 2])
def test_masks_do_not_depend_on_loader_workers(workers):
    images = ImageSet(torch.zeros(64, 1, 8, 8, dtype=torch.uint8), torch.zeros(64, dtype=torch.long), ["x"])
    extras = BlockMaskExtras(MultiBlockMasker(MultiBlockConfig(), (4, 4)))
    reference = list(TrainBatches(images, 16, seed=5, extras=extras).iterate(2, 6))
    other = list(TrainBatches(images, 16, seed=5, extras=extras, num_workers=workers).iterate(2, 6))
    for a, b in zip(reference, other):
        assert torch.equal(a["index"], b["index"]) and torch.equal(a["ctx_idx"], b["ctx_idx"])
        assert torch.equal(a["tgt_idx"], b["tgt_idx"])


def test_loader_splits_the_global_batch_over_ranks_and_resumes_mid_epoch():
    images = ImageSet(torch.zeros(40, 1, 4, 4, dtype=torch.uint8), torch.zeros(40, dtype=torch.long), ["x"])
    full = [b["index"] for b in TrainBatches(images, 8, seed=1).iterate(0, 12)]
    halves = [[b["index"] for b in TrainBatches(images, 8, seed=1, rank=r, world=2).iterate(0, 12)] for r in range(2)]
    for step in range(12):
        assert torch.equal(full[step], torch.cat([halves[0][step], halves[1][step]]))
    resumed = [b["index"] for b in TrainBatches(images, 8, seed=1).iterate(7, 12)]
    assert all(torch.equal(a, b) for a, b in zip(full[7:], resumed))
    assert sorted(torch.cat(full[:5]).tolist()) == list(range(40))  # one epoch = a permutation


def test_batch_seed_is_a_function_of_step_and_rank():
    images = ImageSet(torch.zeros(40, 1, 4, 4, dtype=torch.uint8), torch.zeros(40, dtype=torch.long), ["x"])
    seeds = [[b["seed"] for b in TrainBatches(images, 8, seed=1, rank=r, world=2).iterate(0, 4)] for r in range(2)]
    again = [b["seed"] for b in TrainBatches(images, 8, seed=1, rank=0, world=2).iterate(2, 4)]
    assert len(set(seeds[0])) == 4 and set(seeds[0]).isdisjoint(seeds[1]) and again == seeds[0][2:]
