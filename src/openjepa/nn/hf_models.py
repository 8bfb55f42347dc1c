"""transformers models as parts: a model or its tokenizer read from a local folder saved by ``save_pretrained``,
offline, with one line saying why a folder does not load; a causal language model as an encoder of token ids."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch import nn

from openjepa.core.errors import DataError, MissingExtraError


@contextmanager
def _readable(folder: Path, what: str) -> Iterator[Any]:
    """Yields the transformers package; a folder that is missing or does not load is one DataError line."""
    if not folder.is_dir():
        raise DataError(f"{what} folder not found: {folder} (expected a folder saved by transformers' "
                        f"save_pretrained, with config.json, the weights and the tokenizer)")
    try:
        import transformers
        from safetensors import SafetensorError
    except ImportError as err:
        raise MissingExtraError(f"a {what} folder is read by transformers: pip install 'openjepa[hf]'") from err
    try:
        yield transformers
    except (OSError, ValueError, KeyError, TypeError, RuntimeError, AttributeError, SafetensorError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise DataError(f"{what} folder {folder} does not load as a transformers model with its tokenizer: "
                        f"{first}") from None


def load_hf_tokenizer(path: str | Path, what: str) -> Any:
    """The tokenizer of the folder ``path``; ``what`` names the folder's role in errors (``language model``)."""
    folder = Path(path).expanduser()
    with _readable(folder, what) as transformers:
        return transformers.AutoTokenizer.from_pretrained(folder, local_files_only=True)


def load_hf_folder(path: str | Path, auto_class: str, what: str) -> tuple[Any, Any]:
    """``(model, tokenizer)`` of the folder ``path``, the model by ``transformers.<auto_class>`` (e.g.
    ``AutoModel``, ``AutoModelForCausalLM``)."""
    folder = Path(path).expanduser()
    tokenizer = load_hf_tokenizer(folder, what)
    with _readable(folder, what) as transformers:
        return getattr(transformers, auto_class).from_pretrained(folder, local_files_only=True), tokenizer


class CausalLanguageModel(nn.Module):
    """A transformers causal LM read as an encoder: token ids ``(B, L)`` (-1 pads, right) -> its last layer's hidden
    states ``(B, L, width)``; ``model`` is the LM itself (its head gives next-token logits)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        self.width = int(model.config.hidden_size)

    def hidden(self, embeds: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        """Last hidden states ``(B, L, D)`` of input embeddings ``(B, L, D)`` whose real positions ``real (B, L)``
        come first in each row."""
        out = self.model(inputs_embeds=embeds, attention_mask=real.long(), output_hidden_states=True)
        return out.hidden_states[-1]

    def embed_ids(self, ids: torch.Tensor) -> torch.Tensor:
        """Input embeddings ``(B, L, D)`` of ids with -1 pads (pads read as id 0, masked by the caller)."""
        return self.model.get_input_embeddings()(ids.clamp(min=0))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.hidden(self.embed_ids(ids), ids >= 0)
