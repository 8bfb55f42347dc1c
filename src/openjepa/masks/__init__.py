"""Maskers: token grid -> context indices and target index sets. Every module here registers its maskers."""

from openjepa.core.registry import import_submodules
from openjepa.masks.multiblock import (
    BlockMasks,
    MultiBlockConfig,
    MultiBlockMasker,
    collate_block_masks,
    pad_index_sets,
    sample_block,
    sample_rng,
)

__all__ = [
    "BlockMasks", "MultiBlockConfig", "MultiBlockMasker", "collate_block_masks", "pad_index_sets",
    "sample_block", "sample_rng",
]

import_submodules(__name__)
