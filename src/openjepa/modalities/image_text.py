"""Images paired with texts: the image modality's tokens and probes, with a caption per image (VL-JEPA).

Captions come from the built-in ``shapes_captions``, from ``captions.csv`` in the images' folder
(:mod:`openjepa.data.caption_folder`), or from a template filled with each image's class name (``data.captions``)
for any image dataset, built-in or a folder.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from openjepa.core.errors import ConfigError, DataError
from openjepa.core.spec import InputSpec
from openjepa.data.caption_folder import captions_file, load_caption_folder
from openjepa.data.captions import CaptionedImages, check_template, template_captions
from openjepa.data.images import ImageData
from openjepa.data.registry import DATASETS
from openjepa.modalities.image import ImageDataConfig, ImageModality, _square
from openjepa.modalities.registry import MODALITIES


@dataclass
class ImageTextDataConfig(ImageDataConfig):
    """As :class:`~openjepa.modalities.image.ImageDataConfig`, plus: ``dataset``: ``shapes_captions``, any image
    dataset or folder (a folder with ``captions.csv`` is read with its captions); ``captions``: a template with
    one ``{}`` (e.g. ``a photo of a {}``) that captions every image by its class name, for data without captions
    of their own (None: the data's own captions);
    ``prompt``: the template of the class prompts of zero-shot classification, for folders captioned by
    ``captions.csv``; ``class_names``: the classes' names in label order, for data that numbers its classes
    (MNIST IDX files), read by ``captions`` and ``prompt``."""

    modality: Literal["image_text"] = "image_text"
    dataset: str = "shapes_captions"
    captions: str | None = None
    prompt: str = "a photo of a {}"
    class_names: list[str] | None = None

    def validate(self) -> None:
        super().validate()
        if self.class_names is not None and (not self.class_names or not all(n.strip() for n in self.class_names)):
            raise ConfigError("data.class_names must name every class (non-empty names, in label order)")
        check_template(self.prompt, "data.prompt")
        if self.captions is not None:
            check_template(self.captions, "data.captions")


def named(data: ImageData, names: list[str]) -> ImageData:
    """``data`` with its classes called ``names`` (as many, in label order)."""
    classes = data.train.classes
    if len(names) != len(classes):
        raise ConfigError(f"data.class_names has {len(names)} names but {data.name} has {len(classes)} classes "
                          f"({', '.join(classes[:5])}{' ...' if len(classes) > 5 else ''})")
    return ImageData(data.name, *(replace(s, classes=list(names)) for s in (data.train, data.test)))


@MODALITIES.register("image_text")
class ImageTextModality(ImageModality):
    name = "image_text"
    data_config = ImageTextDataConfig

    def load(self, cfg: ImageTextDataConfig, spec: InputSpec | None = None) -> ImageData:
        root = Path(cfg.dataset).expanduser()
        if cfg.dataset not in DATASETS and cfg.captions is None and root.is_dir() and captions_file(root):
            self.refuse_store(root)
            size = cfg.image_size if spec is None else _square(spec)
            return load_caption_folder(root, prompt=cfg.prompt, image_size=size, test_fraction=cfg.test_fraction,
                                       seed=cfg.split_seed, skip_corrupt=cfg.skip_corrupt)
        data = super().load(cfg, spec)
        if cfg.class_names is not None:
            data = named(data, cfg.class_names)
        if cfg.captions is not None:
            return ImageData(data.name, *(template_captions(s, cfg.captions) for s in (data.train, data.test)))
        if not isinstance(data.train, CaptionedImages):
            raise DataError(f"{data.name} has no captions: set data.captions to a template filled with each "
                            f"image's class name (e.g. 'a photo of a {{}}'), or put captions.csv (header "
                            f"image,caption) in the folder")
        return data

    def builtin(self, cfg: ImageTextDataConfig) -> ImageData | None:
        """Built-in captioned sets, and the built-in image sets (captioned by ``data.captions``)."""
        if cfg.dataset in DATASETS and DATASETS.info(cfg.dataset).get("modality") == ImageModality.name:
            return DATASETS.get(cfg.dataset)(cfg)
        return super().builtin(cfg)
