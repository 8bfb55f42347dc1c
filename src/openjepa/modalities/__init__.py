"""Tokenizers: raw input -> tokens on a grid."""

from openjepa.modalities.patches import PatchEmbed2d

__all__ = ["PatchEmbed2d"]
