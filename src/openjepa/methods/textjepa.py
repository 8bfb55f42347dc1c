"""Text JEPA: guess the embedding of a missing word from the words around it (seed 004's example, made real).

A context encoder (a transformer over words) reads a sentence whose word at one position, drawn per sample, is
left out of attention; a predictor puts a mask token at that position among the context tokens; the target is the
missing word's embedding by a word encoder (an embedding table and an MLP, reading the word alone), which learns
through the targets it gives (no EMA copy: nothing else trains it, so a copy would stay at its random init). Loss:
the mean squared distance of the prediction to the target, plus SIGReg on the whole vocabulary's embeddings: with a
target encoder that learns, nothing else stops every word from getting the same embedding, which makes every
prediction exact (``sigreg.weight: 0`` collapses). SIGReg reads the word table,
not the predictions: a prediction under uncertainty (six objects fit "ate the") is a mean of embeddings and must be
free to lie inside their cloud. A prediction is read back as words by the nearest word embeddings (cosine), special
words left out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from openjepa.core.protocols import Batch, Method, StepOutput
from openjepa.core.spec import InputSpec
from openjepa.data.text import SPECIAL
from openjepa.methods.registry import METHODS
from openjepa.nn.predictor import MaskTokenPredictor, PredictorConfig
from openjepa.nn.text_encoder import TextEncoder
from openjepa.objectives.diagnostics import rankme, token_std
from openjepa.objectives.sigreg import SIGRegConfig, sigreg


@dataclass
class TextJepaConfig:
    """``predictor``: the mask-token predictor over the context tokens. ``word_hidden``: the word encoder's hidden
    width. ``sigreg``: the anti-collapse term on every word's embedding. ``focus_rate``: the share of sentences
    whose hidden word is the one the dataset marks as their focus (``batch["focus"]``: the object of a toy
    sentence, seed 004's "important token"); the others hide a word drawn at random."""

    name: Literal["textjepa"] = "textjepa"
    predictor: PredictorConfig = field(default_factory=lambda: PredictorConfig(width=96, depth=2, heads=4))
    word_hidden: int = 128
    sigreg: SIGRegConfig = field(default_factory=lambda: SIGRegConfig(weight=0.1))
    focus_rate: float = 0.5

    def validate(self) -> None:
        if not 0 <= self.focus_rate <= 1:
            raise ValueError(f"method.focus_rate must lie in [0, 1], got {self.focus_rate}")
        if self.word_hidden < 1 or self.sigreg.weight < 0:
            raise ValueError(f"method.word_hidden must be >= 1 and method.sigreg.weight >= 0, got "
                             f"{self.word_hidden}, {self.sigreg.weight}")


class WordEncoder(nn.Module):
    """Word ids ``(...)`` -> embeddings ``(..., dim)``, each word read alone."""

    def __init__(self, vocab: int, hidden: int, dim: int):
        super().__init__()
        self.net = nn.Sequential(nn.Embedding(vocab, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.net(ids)


@METHODS.register("textjepa")
class TextJepa(Method):
    config_class = TextJepaConfig
    eval_tasks = ("masked_word",)

    def __init__(self, config: TextJepaConfig, encoder: TextEncoder, normalize: nn.Module, spec: InputSpec):
        super().__init__()
        if not isinstance(encoder, TextEncoder):
            raise ValueError("textjepa reads sentences: the data must be text (data.modality: text)")
        self.config, self.encoder, self.normalize = config, encoder, normalize
        self.vocab = list(spec.reader["vocab"])
        self.predictor = MaskTokenPredictor(config.predictor, encoder.width, encoder.grid)
        self.word_encoder = WordEncoder(len(self.vocab), config.word_hidden, encoder.width)

    def predict(self, ids: torch.Tensor, position: torch.Tensor) -> torch.Tensor:
        """Sentences ``(B, L)`` and the position of each one's missing word ``(B,)`` -> predicted embeddings
        ``(B, D)``; the word at ``position`` is never read."""
        B, L = ids.shape
        every = torch.arange(L, device=ids.device).expand(B, L)
        seen = (ids > 0) & (every != position[:, None])
        context = self.encoder.encode(self.encoder.tokenize(ids), keep_valid=seen)
        return self.predictor(context, every, position[:, None, None], seen)[:, 0, 0]

    def word_table(self) -> torch.Tensor:
        """Every word's target embedding ``(V, D)``."""
        return self.word_encoder(torch.arange(len(self.vocab), device=self.encoder.positions.device))

    def word_scores(self, predicted: torch.Tensor) -> torch.Tensor:
        """Cosine similarity ``(B, V)`` of ``predicted (B, D)`` to every word's embedding; -inf for special words."""
        scores = F.normalize(predicted.float(), dim=-1) @ F.normalize(self.word_table().float(), dim=-1).T
        scores[:, : len(SPECIAL)] = -float("inf")
        return scores

    def nearest_words(self, predicted: torch.Tensor, k: int) -> torch.Tensor:
        """Ids ``(B, k)`` of the words nearest (cosine) to ``predicted (B, D)``, special words left out."""
        return self.word_scores(predicted).topk(k, dim=-1).indices

    def forward(self, batch: Batch) -> StepOutput:
        cfg = self.config
        ids = batch["inputs"]
        gen = torch.Generator().manual_seed(batch["seed"])
        lengths = (ids > 0).sum(1)
        position = (torch.rand(len(ids), generator=gen).to(ids.device) * lengths).long()  # a real word each
        if "focus" in batch and cfg.focus_rate > 0:
            focused = torch.rand(len(ids), generator=gen).to(ids.device) < cfg.focus_rate
            position = torch.where(focused, batch["focus"].to(ids.device), position)
        pred = self.predict(ids, position).float()
        target = self.word_encoder(ids.gather(1, position[:, None])[:, 0]).float()
        pred_loss = (pred - target).square().mean()
        loss, logs = pred_loss, {"pred_loss": pred_loss.detach()}
        table = self.word_table().float()  # (V, D)
        if cfg.sigreg.weight > 0:
            reg = sigreg(table, seed=batch["step"], slices=cfg.sigreg.slices, knots=cfg.sigreg.knots,
                         t_max=cfg.sigreg.t_max)
            loss = loss + cfg.sigreg.weight * reg
            logs["sigreg"] = reg.detach()
        table = table.detach()
        logs.update(token_std=token_std(table[:, None]), rankme=rankme(table))  # over the vocabulary
        return StepOutput(loss, logs)

    def eval_encoder(self, which: str = "target") -> TextEncoder:
        return self.encoder
