"""Distances and anti-collapse regularizers, each usable alone on tensors."""

from openjepa.objectives.distances import Distance, masked_mean, token_distance
from openjepa.objectives.sigreg import SIGRegConfig, random_slices, sigreg
from openjepa.objectives.vicreg import covariance_loss, variance_loss, vicreg_loss

__all__ = [
    "Distance", "SIGRegConfig", "covariance_loss", "masked_mean", "random_slices", "sigreg", "token_distance",
    "variance_loss", "vicreg_loss",
]
