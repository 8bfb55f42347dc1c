"""Text JEPA: predict the representation of hidden spans of a text from the tokens around them.

A context encoder (a transformer over tokens) reads a text whose hidden spans (:mod:`openjepa.masks.spans`) are
left out; a predictor puts mask tokens at the hidden positions among the context tokens. The targets, by
``targets``:

- ``words`` (seed 004's example, made real): each hidden word's embedding by a word encoder (an embedding table and
  an MLP, reading the word alone), which learns through the targets it gives (no EMA copy: nothing else trains it,
  so a copy would stay at its random init). SIGReg on the whole vocabulary's embeddings keeps every word from
  getting the same one (``sigreg.weight: 0`` collapses); it reads the word table, not the predictions, since a
  prediction under uncertainty (six objects fit "ate the") is a mean of embeddings and must be free to lie inside
  their cloud. A prediction is read back as words by the nearest word embeddings (cosine), special words left out.
- ``tokens`` (I-JEPA's and data2vec's reading of text): the target encoder's (EMA by default) layer-normed tokens at
  the hidden positions, computed on the whole text, so a target carries its context too; the context encoder's
  mean-pooled tokens are the text's embedding. SIGReg, when weighted, reads those pooled embeddings.

The loss is the mean squared distance of the predictions to the targets, over the hidden tokens.
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
from openjepa.data.tokenizer import tokenizer_from_reader
from openjepa.masks.spans import SpanMaskConfig, draw_spans, positions_of
from openjepa.methods.registry import METHODS
from openjepa.methods.targets import TargetConfig, TargetEncoder
from openjepa.nn.predictor import MaskTokenPredictor, PredictorConfig, gather_tokens
from openjepa.nn.text_encoder import TextEncoder, trim_padding
from openjepa.objectives.diagnostics import diagnosing, rankme, token_std
from openjepa.objectives.distances import masked_mean
from openjepa.objectives.sigreg import SIGRegConfig, sigreg


@dataclass
class TextJepaConfig:
    """``predictor``: the mask-token predictor over the context tokens. ``targets``: ``words`` or ``tokens`` (see
    the module docstring). ``mask``: the hidden spans (the toy: one word a text, its object half the time).
    ``target``: the target encoder of ``tokens`` targets. ``word_hidden``: the word encoder's hidden width
    (``words`` targets). ``sigreg``: the anti-collapse term (on the word table, or on the pooled text embeddings)."""

    name: Literal["textjepa"] = "textjepa"
    predictor: PredictorConfig = field(default_factory=lambda: PredictorConfig(width=96, depth=2, heads=4))
    targets: Literal["words", "tokens"] = "words"
    mask: SpanMaskConfig = field(default_factory=lambda: SpanMaskConfig(ratio=(0.0, 0.0), span=(1, 1),
                                                                        focus_rate=0.5))
    target: TargetConfig = field(default_factory=TargetConfig)
    word_hidden: int = 128
    sigreg: SIGRegConfig = field(default_factory=lambda: SIGRegConfig(weight=0.1))

    def validate(self) -> None:
        self.mask.validate()
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
            raise ValueError("textjepa reads texts: the data must be text (data.modality: text)")
        self.config, self.encoder, self.normalize = config, encoder, normalize
        self.vocab = tokenizer_from_reader(spec.reader).vocab
        self.predictor = MaskTokenPredictor(config.predictor, encoder.width, encoder.grid)
        if config.targets == "words":
            self.word_encoder = WordEncoder(len(self.vocab), config.word_hidden, encoder.width)
        else:
            self.target = TargetEncoder(config.target, encoder)

    def predict_hidden(self, ids: torch.Tensor, hidden: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Texts ``(B, L)`` and their hidden positions ``(B, L)`` bool -> predictions ``(B, K, D)`` at the hidden
        positions ``(B, K)`` (in order), which of those are real ``(B, K)``, and the mean of the context tokens
        ``(B, D)``; hidden tokens are never read."""
        ctx_idx, ctx_valid = positions_of((ids > 0) & ~hidden)
        tgt_idx, tgt_valid = positions_of(hidden)
        context = self.encoder.encode(self.encoder.tokenize(ids), ctx_idx, ctx_valid)
        pred = self.predictor(context, ctx_idx, tgt_idx[:, None], ctx_valid, tgt_valid[:, None])[:, 0]
        return pred, tgt_idx, tgt_valid, masked_mean(context.transpose(1, 2), ctx_valid[:, None])

    def predict(self, ids: torch.Tensor, position: torch.Tensor) -> torch.Tensor:
        """Texts ``(B, L)`` and the position of each one's missing word ``(B,)`` -> predicted embeddings
        ``(B, D)``; the word at ``position`` is never read."""
        hidden = torch.zeros_like(ids, dtype=torch.bool).scatter_(1, position[:, None], True)
        return self.predict_hidden(ids, hidden)[0][:, 0]

    def word_table(self) -> torch.Tensor:
        """Every word's target embedding ``(V, D)`` (``words`` targets)."""
        return self.word_encoder(torch.arange(len(self.vocab), device=self.encoder.words.weight.device))

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
        ids = trim_padding(batch["inputs"])
        gen = torch.Generator().manual_seed(batch["seed"])
        hidden = draw_spans(ids, cfg.mask, gen, batch.get("focus"))
        pred, tgt_idx, tgt_valid, pooled = self.predict_hidden(ids, hidden)
        if cfg.targets == "words":
            target = self.word_encoder(ids.gather(1, tgt_idx))
        else:
            with torch.no_grad():
                full = self.target.net(ids)  # (B, L, D)
            target = gather_tokens(F.layer_norm(full.float(), full.shape[-1:]), tgt_idx)
        pred_loss = masked_mean((pred.float() - target.float()).square().mean(-1), tgt_valid).mean()
        loss, logs = pred_loss, {"pred_loss": pred_loss.detach()}
        # the word table (V, D) over the vocabulary, or the texts' embeddings (B, D)
        regularized = self.word_table().float() if cfg.targets == "words" else pooled.float()
        if cfg.sigreg.weight > 0:
            reg = sigreg(regularized, seed=batch["step"], slices=cfg.sigreg.slices, knots=cfg.sigreg.knots,
                         t_max=cfg.sigreg.t_max)
            loss = loss + cfg.sigreg.weight * reg
            logs["sigreg"] = reg.detach()
        if diagnosing(batch):
            regularized = regularized.detach()
            logs.update(token_std=token_std(regularized[:, None]), rankme=rankme(regularized))
        return StepOutput(loss, logs)

    def after_step(self, step: int, total_steps: int) -> dict[str, float]:
        if self.config.targets == "words":
            return {}
        m = self.target.update(self.encoder, step, total_steps)
        return {} if m is None else {"momentum": m}

    def eval_encoder(self, which: str = "target") -> TextEncoder:
        return self.target.net if which == "target" and self.config.targets == "tokens" else self.encoder
