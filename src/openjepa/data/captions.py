"""Images paired with captions: one or more captions per image, and one text prompt per class for zero-shot
classification.

A training sample is ``(image, {"label": class, "caption": str})``; an image with several captions gives one of them,
drawn per epoch (deterministic in epoch and index), so every caption is seen over the epochs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from openjepa.core.errors import ConfigError
from openjepa.data.images import ImageSet


@dataclass
class CaptionedImages(ImageSet):
    """An :class:`ImageSet` whose image ``i`` has the captions ``captions[i]`` (a tuple of one or more);
    ``prompts[c]``: the text standing for class ``c`` in zero-shot classification (empty when unlabelled)."""

    captions: list[tuple[str, ...]] = field(default_factory=list)
    prompts: list[str] = field(default_factory=list)
    epoch: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        if len(self.captions) != len(self.images):
            raise ValueError(f"{len(self.images)} images but {len(self.captions)} caption lists")
        if any(not c for c in self.captions):
            raise ValueError("every image needs at least one caption")

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def caption_of(self, index: int, epoch: int) -> str:
        options = self.captions[index]
        if len(options) == 1:
            return options[0]
        return options[int(np.random.default_rng([epoch, index, 0xCA9]).integers(len(options)))]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, dict]:
        return self.images[index], {"label": self.labels[index], "caption": self.caption_of(index, self.epoch)}

    def subset(self, index: np.ndarray | torch.Tensor) -> CaptionedImages:
        index = torch.as_tensor(index, dtype=torch.long)
        return CaptionedImages(self.images[index], self.labels[index], self.classes,
                               [self.captions[i] for i in index.tolist()], self.prompts)

    def unique_captions(self) -> tuple[list[str], torch.Tensor]:
        """The distinct captions of the split and a ``(N, U)`` bool matrix: image ``i`` has caption ``u``."""
        pool = list(dict.fromkeys(c for options in self.captions for c in options))
        where = {c: u for u, c in enumerate(pool)}
        has = torch.zeros(len(self.captions), len(pool), dtype=torch.bool)
        for i, options in enumerate(self.captions):
            has[i, [where[c] for c in options]] = True
        return pool, has


def check_template(template: str, key: str) -> None:
    """A sentence with one ``{}`` where a class name goes, or a ConfigError naming ``key``."""
    if template.count("{}") != 1 or template.replace("{}", "").count("{") or template.replace("{}", "").count("}"):
        raise ConfigError(f"{key} must hold one '{{}}' where the class name goes and no other braces (e.g. 'a "
                          f"photo of a {{}}'), got '{template}'")


def template_captions(split: ImageSet, template: str) -> CaptionedImages:
    """``split`` captioned by filling ``template`` (e.g. ``a photo of a {}``) with each image's class name, the
    class prompts being the same sentences. Class names are read with ``_`` and ``-`` as spaces."""
    check_template(template, "data.captions")
    if not split.labeled:
        raise ConfigError("data.captions fills a template with class names, but these images have no classes: put "
                          "them in class folders, or caption them in captions.csv and leave data.captions unset")
    prompts = [template.format(name.replace("_", " ").replace("-", " ")) for name in split.classes]
    return CaptionedImages(split.images, split.labels, split.classes,
                           [(prompts[int(c)],) for c in split.labels], prompts)
