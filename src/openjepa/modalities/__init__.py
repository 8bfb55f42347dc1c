"""Kinds of input (image, video, trajectory), each declaring its data and eval settings, reader, spec, tokenizer
and evaluation tasks; every module here registers its modality. Tokenizers: 2-D patches, 3-D tubelets."""

from openjepa.core.registry import import_submodules

import_submodules(__name__)
