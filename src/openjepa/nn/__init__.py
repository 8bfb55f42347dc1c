"""Building blocks: attention, transformer block, position embeddings, ViT, predictors, projector."""

from openjepa.nn.attention import Attention, key_padding_mask
from openjepa.nn.block import MLP, Block
from openjepa.nn.normalize import Normalize
from openjepa.nn.posembed import sincos_1d, sincos_grid
from openjepa.nn.predictor import MaskTokenPredictor, PredictorConfig, gather_tokens
from openjepa.nn.vit import VIT_SIZES, ViT, ViTConfig

__all__ = [
    "Attention", "Block", "MLP", "MaskTokenPredictor", "Normalize", "PredictorConfig", "VIT_SIZES", "ViT", "ViTConfig",
    "gather_tokens", "key_padding_mask", "sincos_1d", "sincos_grid",
]
