"""Frozen text encoders that give a caption one embedding (VL-JEPA's Y-encoder), read offline from local files.

``kind: wordllama``: WordLlama's static token table (``l2_supercat``, 256-d, distilled from Llama 2's embeddings),
read from the files the ``wordllama`` wheel installs (its safetensors table and Llama 2 tokenizer) and averaged over a
caption's tokens, as ``WordLlama.embed`` does. Nothing is downloaded: the package's own loader looks for its
tokenizer in a folder the wheel does not have, so the files are read directly.
``kind: hf``: a transformers folder (``AutoTokenizer`` + ``AutoModel``, e.g. a sentence-embedding model) whose last
hidden states are averaged over the caption's real tokens.

Embeddings are kept per caption string: a caption is encoded once per process.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F

from openjepa.core.config import absolute_if_exists
from openjepa.core.errors import ConfigError, MissingExtraError
from openjepa.nn.hf_models import load_hf_folder

WORDLLAMA_WEIGHTS = "weights/l2_supercat_256.safetensors"
WORDLLAMA_TOKENIZER = "tokenizers/l2_supercat_tokenizer_config.json"


@dataclass
class TextEncoderConfig:
    """``kind``: ``wordllama`` (the package's 256-d static table; the ``vl`` extra) or ``hf`` (a transformers
    folder at ``path``). ``max_length``: captions are cut to this many tokens (hf)."""

    kind: Literal["wordllama", "hf"] = "wordllama"
    path: str | None = None
    max_length: int = 64

    def __post_init__(self) -> None:
        self.path = absolute_if_exists(self.path)

    def validate(self) -> None:
        if self.kind == "wordllama" and self.path:
            raise ValueError("text_encoder.path is read by kind hf only; wordllama's files come from its package")
        if self.max_length < 1:
            raise ValueError(f"text_encoder.max_length must be >= 1, got {self.max_length}")


class TextEmbedder:
    """Captions -> float32 embeddings ``(N, dim)`` on the CPU, each caption encoded once (a cache by string).
    Frozen and outside the module tree: nothing of it is trained or saved in checkpoints."""

    dim: int
    name: str

    def __init__(self) -> None:
        self._cache: dict[str, torch.Tensor] = {}

    def __call__(self, texts: list[str], device: torch.device | str = "cpu") -> torch.Tensor:
        """``(N, dim)`` embeddings on ``device`` (where a model-based encoder also runs)."""
        if not texts:
            return torch.zeros(0, self.dim, device=device)
        new = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if new:
            self._cache.update(zip(new, self.encode(new, torch.device(device)).float().cpu()))
        return torch.stack([self._cache[t] for t in texts]).to(device)

    def encode(self, texts: list[str], device: torch.device) -> torch.Tensor:
        """``(N, dim)`` embeddings of ``texts`` (no cache), computed on ``device`` when the encoder runs a model."""
        raise NotImplementedError


def wordllama_folder() -> Path:
    """The installed ``wordllama`` package's folder (found without importing it)."""
    found = importlib.util.find_spec("wordllama")
    if found is None or not found.submodule_search_locations:
        raise MissingExtraError("text_encoder.kind wordllama needs the wordllama package (a 256-d text embedding "
                                "table inside its wheel): pip install 'openjepa[vl]'")
    return Path(next(iter(found.submodule_search_locations)))


class WordLlamaEmbedder(TextEmbedder):
    """The mean of WordLlama's token embeddings over a caption's tokens (no special tokens; an empty caption gets
    zeros)."""

    name = "wordllama l2_supercat 256-d"

    def __init__(self, folder: Path | None = None):
        super().__init__()
        folder = folder or wordllama_folder()
        from safetensors.torch import load_file
        from tokenizers import Tokenizer  # wordllama's own dependency

        weights, tokenizer = folder / WORDLLAMA_WEIGHTS, folder / WORDLLAMA_TOKENIZER
        for path in (weights, tokenizer):
            if not path.is_file():
                raise ConfigError(f"the wordllama package at {folder} lacks {path.relative_to(folder)}; expected "
                                  f"wordllama 0.4 (pip install 'openjepa[vl]')")
        self.table = load_file(str(weights))["embedding.weight"].float()  # (V, 256)
        self.tokenizer = Tokenizer.from_file(str(tokenizer))
        self.dim = self.table.shape[1]

    def encode(self, texts: list[str], device: torch.device) -> torch.Tensor:
        ids = [enc.ids for enc in self.tokenizer.encode_batch(texts, add_special_tokens=False)]
        flat = torch.tensor([i for row in ids for i in row], dtype=torch.long).clamp_(0, len(self.table) - 1)
        offsets = torch.tensor([0] + [len(row) for row in ids[:-1]], dtype=torch.long).cumsum(0)
        return F.embedding_bag(flat, self.table, offsets, mode="mean")


class HFTextEmbedder(TextEmbedder):
    """The mean of a transformers model's last hidden states over a caption's real tokens."""

    def __init__(self, path: str, max_length: int):
        super().__init__()
        model, self.tokenizer = load_hf_folder(path, "AutoModel", "text encoder")
        self.model = model.eval().requires_grad_(False)
        self.max_length = max_length
        self.dim = int(self.model.config.hidden_size)
        self.name = f"{Path(path).name} ({type(self.model).__name__})"

    @torch.no_grad()
    def encode(self, texts: list[str], device: torch.device) -> torch.Tensor:
        out = []
        self.model.to(device)
        for start in range(0, len(texts), 256):
            enc = self.tokenizer(texts[start : start + 256], padding=True, truncation=True,
                                 max_length=self.max_length, return_tensors="pt").to(device)
            hidden = self.model(**enc).last_hidden_state.float()  # (b, L, D)
            mask = enc["attention_mask"][..., None].float()
            out.append(((hidden * mask).sum(1) / mask.sum(1).clamp_min(1)).cpu())
        return torch.cat(out)


def build_text_embedder(cfg: TextEncoderConfig) -> TextEmbedder:
    """The frozen text encoder ``cfg`` names."""
    if cfg.kind == "wordllama":
        return WordLlamaEmbedder()
    if not cfg.path:
        raise ConfigError("method.text_encoder.kind hf needs method.text_encoder.path: a folder saved by "
                          "transformers (save_pretrained) holding the model and its tokenizer")
    return HFTextEmbedder(cfg.path, cfg.max_length)
