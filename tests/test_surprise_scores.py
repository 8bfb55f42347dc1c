"""Quadruplet scoring of surprise: the impossible pair against the possible pair of each quadruplet."""

import torch

from openjepa.eval.surprise import quad_scores
from openjepa.masks.tubes import future_split


def test_quadruplets_compare_sums_of_pairs_not_single_clips():
    # quadruplet 0: the impossible pair sums higher though clip C is the least surprising of the four;
    # quadruplet 1: the possible pair sums higher
    possible, impossible = torch.tensor([2.0, 3.0, 1.0, 1.0]), torch.tensor([0.5, 5.0, 1.0, 0.5])
    scores = quad_scores(possible, impossible)
    assert scores["pairwise_accuracy"] == 0.5
    assert scores["auroc"] == 0.5  # sums 5, 2 (possible) against 5.5, 1.5 (impossible)
    assert quad_scores(possible, possible + 1)["pairwise_accuracy"] == 1.0


def test_future_split_cuts_the_grid_by_time_step():
    context, target = future_split((4, 2, 3), 1)
    assert context.tolist() == list(range(6)) and target.tolist() == list(range(6, 24))
