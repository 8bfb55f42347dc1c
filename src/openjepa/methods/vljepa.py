"""VL-JEPA: from an image, predict the embedding of its caption, as a frozen text encoder gives it.

X-encoder: the run's vision encoder (trained, or another's frozen with ``freeze_encoder`` and ``--encoder``: an
openjepa run, an HF I-JEPA folder, or an HF V-JEPA 2 folder, whose clip encoder reads each image repeated into one
tubelet).
Predictor: learned queries read the encoder's tokens and give one vector in the text encoder's space.
Y-encoder: a frozen text encoder (:mod:`openjepa.interop.text_embedders`). Loss: bidirectional InfoNCE between the
predictions and the captions' embeddings with a learned temperature; images that share a caption are not each
other's negatives. Nothing is generated: classification and retrieval read the nearest text embedding.

``head: linear`` is the CLIP-style contrastive baseline on the same parts: the encoder's mean-pooled tokens and the
captions' embeddings each through a linear map into a shared space, no predictor.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import nn

from openjepa.core.protocols import Batch, Method, StepOutput
from openjepa.core.spec import InputSpec
from openjepa.interop.text_embedders import TextEncoderConfig, build_text_embedder
from openjepa.methods.registry import METHODS
from openjepa.nn.query_predictor import QueryPredictor, QueryPredictorConfig
from openjepa.nn.vit import ViT
from openjepa.objectives.diagnostics import diagnosing, rankme, token_std
from openjepa.objectives.infonce import infonce, same_text

MIN_TEMPERATURE = 0.01  # the learnt temperature is kept above it (CLIP's logit scale <= 100)


@dataclass
class VLJepaConfig:
    """``text_encoder``: the frozen Y-encoder. ``head``: ``predictor`` (VL-JEPA: predict the caption's embedding in
    the text encoder's own space) or ``linear`` (CLIP-style baseline: linear maps of pooled image features and of
    caption embeddings into a shared space of ``embed_dim``). ``embed_dim``: with ``predictor``, None predicts the
    text embedding itself; a size adds a linear map of the text embeddings into a space of that size (the paper's
    projection heads). ``temperature``: InfoNCE's starting temperature, learnt when ``learn_temperature``.
    ``freeze_encoder``: keep the vision encoder fixed (another run's, given with ``--encoder``: required then)."""

    name: Literal["vljepa"] = "vljepa"
    text_encoder: TextEncoderConfig = field(default_factory=TextEncoderConfig)
    head: Literal["predictor", "linear"] = "predictor"
    predictor: QueryPredictorConfig = field(default_factory=QueryPredictorConfig)
    embed_dim: int | None = None
    temperature: float = 0.07
    learn_temperature: bool = True
    freeze_encoder: bool = False

    def validate(self) -> None:
        self.text_encoder.validate()
        self.predictor.validate()
        if self.head == "linear" and self.embed_dim is None:
            raise ValueError("method.head linear (the CLIP-style baseline) maps both sides into a shared space: set "
                             "method.embed_dim (e.g. 256)")
        if self.embed_dim is not None and self.embed_dim < 1:
            raise ValueError(f"method.embed_dim must be >= 1, got {self.embed_dim}")
        if not MIN_TEMPERATURE <= self.temperature <= 1:
            raise ValueError(f"method.temperature must lie in [{MIN_TEMPERATURE}, 1], got {self.temperature}")


@METHODS.register("vljepa")
class VLJepa(Method):
    config_class = VLJepaConfig
    eval_tasks = ("zero_shot",)

    @classmethod
    def freezes_encoder(cls, config: VLJepaConfig) -> bool:
        return config.freeze_encoder

    def __init__(self, config: VLJepaConfig, encoder: ViT, normalize: nn.Module, spec: InputSpec):
        super().__init__()
        config.validate()
        self.config, self.normalize, self.encoder = config, normalize, encoder
        self.text = build_text_embedder(config.text_encoder)
        self.text_encoder_name = self.text.name
        out = config.embed_dim or self.text.dim
        if config.head == "predictor":
            self.head = QueryPredictor(config.predictor, encoder.width, out)
        else:
            self.head = nn.Linear(encoder.width, out)
        self.text_projection = nn.Identity() if config.embed_dim is None else nn.Linear(self.text.dim, out)
        self.log_scale = nn.Parameter(torch.tensor(math.log(1 / config.temperature)),
                                      requires_grad=config.learn_temperature)
        if config.freeze_encoder:
            self.encoder.requires_grad_(False).eval()

    def train(self, mode: bool = True) -> VLJepa:
        super().train(mode)
        if self.config.freeze_encoder:
            self.encoder.eval()
        return self

    def _tokens(self, images: torch.Tensor) -> torch.Tensor:
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.config.freeze_encoder):
            return self.encoder(self.encoder.as_input(self.normalize(images)))

    def _head(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.head(tokens if self.config.head == "predictor" else tokens.mean(1))

    def embed_images(self, images: torch.Tensor) -> torch.Tensor:
        """Images ``(B, C, H, W)`` in [0, 1] -> predicted caption embeddings ``(B, E)``."""
        return self._head(self._tokens(images)).float()

    def embed_texts(self, texts: list[str]) -> torch.Tensor:
        """Texts -> embeddings ``(N, E)`` in the space of :meth:`embed_images` (on the method's device)."""
        return self.text_projection(self.text(texts, self.log_scale.device)).float()

    def forward(self, batch: Batch) -> StepOutput:
        tokens = self._tokens(batch["inputs"])
        predicted = self._head(tokens)  # (B, E)
        captions = self.embed_texts(batch["caption"])  # (B, E)
        positives = same_text(batch["caption"], predicted.device)
        scale = self.log_scale.exp()
        loss = infonce(predicted, captions, scale, positives)
        with torch.no_grad():
            nearest = (predicted.float() @ captions.T).argmax(1)
            batch_top1 = positives[torch.arange(len(nearest)), nearest].float().mean()
        logs = {"infonce": loss.detach(), "temperature": 1 / scale.detach(), "batch_top1": batch_top1}
        if diagnosing(batch):
            logs.update(token_std=token_std(tokens), rankme=rankme(predicted.detach().float()))
        return StepOutput(loss, logs)

    def after_step(self, step: int, total_steps: int) -> dict[str, float]:
        with torch.no_grad():
            self.log_scale.clamp_(max=-math.log(MIN_TEMPERATURE))
        return {}

    def eval_encoder(self, which: str = "target") -> ViT:
        return self.encoder
