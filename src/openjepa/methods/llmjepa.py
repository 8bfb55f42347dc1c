"""LLM-JEPA: a causal language model fine-tuned on pairs of views (a request and its code) with its next-token loss
plus a JEPA term in its own embedding space.

loss = CE(second view | first view) + λ · (1 - cos(Pred(Enc(first)), Enc(second))), where Enc(x) is the model's last
hidden state at the last token of x read alone, and the predictor is the same model reading the first view followed
by ``predictors`` learned [PRED] embeddings (its last hidden state), so no weights are added but the [PRED]
embeddings. Both views pass through the trained model (no stop-gradient); the next-token term keeps the embeddings
from collapsing. The encoder is the language model of the data's folder (:mod:`openjepa.modalities.text_pairs`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from openjepa.core.protocols import Batch, Method, StepOutput
from openjepa.core.spec import InputSpec
from openjepa.methods.registry import METHODS
from openjepa.nn.hf_models import CausalLanguageModel


@dataclass
class LLMJepaConfig:
    """``predictors``: [PRED] embeddings after the first view (k); ``weight``: λ of the JEPA term (0: plain
    fine-tuning on the next-token loss)."""

    name: Literal["llmjepa"] = "llmjepa"
    predictors: int = 1
    weight: float = 1.0

    def validate(self) -> None:
        if self.predictors < 1 or self.weight < 0:
            raise ValueError("method.predictors must be >= 1 and method.weight >= 0")


def real_first(values: torch.Tensor, real: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Each row's real entries moved to its front in order, the columns no row needs cut: ``values (B, L, ...)``,
    ``real (B, L)`` bool -> both reordered, ``L'`` = the most real entries of a row."""
    order = (~real).to(torch.int8).argsort(dim=1, stable=True)[:, : max(1, int(real.sum(1).max()))]
    index = order.view(*order.shape, *([1] * (values.ndim - 2))).expand(*order.shape, *values.shape[2:])
    return values.gather(1, index), real.gather(1, order)


def with_ends(ids: torch.Tensor, begin: int | None, end: int | None) -> torch.Tensor:
    """``(B, L)`` ids (-1 pads) with ``begin`` before and ``end`` after each row's tokens (-1 pads, right)."""
    parts = [ids]
    if begin is not None:
        parts.insert(0, torch.full_like(ids[:, :1], begin))
    ids = torch.cat(parts, 1)
    if end is not None:
        ids = torch.cat([real_first(ids, ids >= 0)[0], torch.full_like(ids[:, :1], -1)], 1)
        ids[torch.arange(len(ids)), (ids >= 0).sum(1)] = end
    return ids


def last_real(hidden: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """``(B, D)``: the hidden state at each row's last real position (real positions first)."""
    return hidden[torch.arange(len(hidden)), real.sum(1) - 1]


@METHODS.register("llmjepa")
class LLMJepa(Method):
    config_class = LLMJepaConfig
    eval_tasks = ("view_prediction",)

    def __init__(self, config: LLMJepaConfig, encoder: CausalLanguageModel, normalize: nn.Module, spec: InputSpec):
        super().__init__()
        config.validate()
        self.config, self.normalize, self.encoder = config, normalize, encoder
        self.begin, self.end = spec.reader.get("bos"), spec.reader.get("eos")
        self.pred = nn.Parameter(torch.randn(1, config.predictors, encoder.width) * 0.02)

    def generation_loss(self, first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
        """Next-token cross-entropy of the second view's tokens (and the end) after the first's."""
        joined = with_ends(torch.cat([first, second], 1), self.begin, self.end)
        ids, real = real_first(joined, joined >= 0)
        lengths = (first >= 0).sum(1) + (self.begin is not None)  # tokens before the second view
        targets = torch.arange(ids.shape[1], device=ids.device)[None] >= lengths[:, None]
        labels = ids.masked_fill(~(real & targets), -100)
        return self.encoder.model(input_ids=ids.clamp(min=0), attention_mask=real.long(), labels=labels).loss

    def embed_view(self, ids: torch.Tensor) -> torch.Tensor:
        """Enc: ``(B, D)`` last hidden state at the last token of each view read alone."""
        ids = with_ends(ids, self.begin, None)
        ids, real = real_first(ids, ids >= 0)
        return last_real(self.encoder.hidden(self.encoder.embed_ids(ids), real), real)

    def predict_view(self, ids: torch.Tensor) -> torch.Tensor:
        """Pred: ``(B, D)`` last hidden state of each first view followed by the [PRED] embeddings."""
        ids = with_ends(ids, self.begin, None)
        embeds = torch.cat([self.encoder.embed_ids(ids), self.pred.expand(len(ids), -1, -1)], 1)
        real = torch.cat([ids >= 0, torch.ones(len(ids), self.pred.shape[1], dtype=torch.bool, device=ids.device)], 1)
        embeds, real = real_first(embeds, real)
        return last_real(self.encoder.hidden(embeds, real), real)

    def forward(self, batch: Batch) -> StepOutput:
        first, second = batch["inputs"][:, 0], batch["inputs"][:, 1]
        ce = self.generation_loss(first, second)
        if not self.config.weight:  # plain fine-tuning: no passes for the JEPA term
            return StepOutput(ce, {"next_token": ce.detach()})
        cos = F.cosine_similarity(self.predict_view(first).float(), self.embed_view(second).float(), dim=-1).mean()
        loss = ce + self.config.weight * (1 - cos)
        return StepOutput(loss, {"next_token": ce.detach(), "cosine": cos.detach()})

    def eval_encoder(self, which: str = "target") -> CausalLanguageModel:
        return self.encoder
