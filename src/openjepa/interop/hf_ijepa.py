"""HF transformers I-JEPA checkpoints (``IJepaModel.save_pretrained`` folders) <-> openjepa ViT.

Files: ``config.json`` (model_type ``ijepa``) and ``model.safetensors``; an ``IJepaForImageClassification``
folder adds a linear head on the mean of the last hidden states (``classifier.*``, class names in ``id2label``).
On disk, transformers writes the ViT-style names (``encoder.layer.{i}.attention.attention.query``
...); in memory, recent versions use ``layers.{i}.attention.q_proj`` ... Both are
read. Exports use the on-disk names, which ``IJepaModel.from_pretrained`` reads.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import torch
from safetensors.torch import save_file

from openjepa.core.errors import WeightsError
from openjepa.core.spec import InputSpec
from openjepa.interop.safetensors_io import read_hf_config, read_safetensors_folder, weights_fit_config
from openjepa.modalities.patches import PatchEmbed2d
from openjepa.nn.vit import ViT, ViTConfig

# per-layer: openjepa suffix -> (on-disk HF name, in-memory HF name)
_LAYER_KEYS = {
    "norm1": ("layernorm_before", "layernorm_before"),
    "attn.proj": ("attention.output.dense", "attention.o_proj"),
    "norm2": ("layernorm_after", "layernorm_after"),
    "mlp.fc1": ("intermediate.dense", "mlp.fc1"),
    "mlp.fc2": ("output.dense", "mlp.fc2"),
}
_QKV = {"q": ("attention.attention.query", "attention.q_proj"), "k": ("attention.attention.key", "attention.k_proj"),
        "v": ("attention.attention.value", "attention.v_proj")}
_LAYER_PREFIXES = ("encoder.layer.{i}.", "layers.{i}.")


IMAGENET_MEAN, IMAGENET_STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]  # HF image processors' default


def is_hf_ijepa_folder(folder: Path) -> bool:
    return (read_hf_config(folder) or {}).get("model_type") == "ijepa"


def hf_normalisation(folder: Path) -> tuple[list[float] | None, list[float] | None]:
    """``image_mean`` and ``image_std`` of the folder's ``preprocessor_config.json`` (None where absent)."""
    prep = Path(folder) / "preprocessor_config.json"
    meta = json.loads(prep.read_text()) if prep.is_file() else {}
    return meta.get("image_mean"), meta.get("image_std")


def hf_input_spec(vit: ViT) -> InputSpec:
    """What an HF I-JEPA encoder reads: images of its channels and size."""
    return InputSpec("image", vit.in_chans, tuple(vit.image_size))


def vit_config_from_hf(hf: dict) -> tuple[ViTConfig, int, int]:
    """``(ViTConfig, in_chans, image_size)`` of an HF IJepaConfig dict."""
    if hf.get("hidden_act", "gelu") != "gelu":
        raise WeightsError(f"hidden_act '{hf['hidden_act']}' is not supported (only exact 'gelu')")
    width, heads = hf["hidden_size"], hf["num_attention_heads"]
    image_size, patch = hf.get("image_size", 224), hf.get("patch_size", 16)
    if isinstance(image_size, (list, tuple)):
        if image_size[0] != image_size[1]:
            raise WeightsError(f"only square image sizes are supported, got {image_size}")
        image_size = image_size[0]
    if isinstance(patch, (list, tuple)):
        patch = patch[0]
    config = ViTConfig(size="tiny", patch_size=patch, width=width, depth=hf["num_hidden_layers"], heads=heads,
                       mlp_ratio=hf["intermediate_size"] / width, qkv_bias=hf.get("qkv_bias", True),
                       norm_eps=hf.get("layer_norm_eps", 1e-12), pos_embed="learned")
    return config, hf.get("num_channels", 3), image_size


def _strip_prefix(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Drop a leading ``ijepa.`` (IJepaForImageClassification) from the keys."""
    return {k.removeprefix("ijepa."): v for k, v in state.items()}


def _pick(state: dict, names: list[str], what: str) -> torch.Tensor:
    for name in names:
        if name in state:
            return state.pop(name)
    raise WeightsError(f"HF checkpoint lacks {what} (looked for {', '.join(names)})")


def vit_state_from_hf(state: dict[str, torch.Tensor], depth: int) -> dict[str, torch.Tensor]:
    """Map an HF I-JEPA state dict (either naming) to openjepa ViT keys; unknown keys are an error, the classifier
    head is left out (:func:`load_hf_ijepa_classifier`)."""
    state = _strip_prefix(dict(state))
    state.pop("classifier.weight", None), state.pop("classifier.bias", None)
    state.pop("pooler.dense.weight", None), state.pop("pooler.dense.bias", None)
    state.pop("embeddings.mask_token", None)
    out = {
        "pos_embed": _pick(state, ["embeddings.position_embeddings"], "position embeddings"),
        "patch_embed.proj.weight": _pick(state, ["embeddings.patch_embeddings.projection.weight"], "patch embedding"),
        "patch_embed.proj.bias": _pick(state, ["embeddings.patch_embeddings.projection.bias"], "patch embedding bias"),
        "norm.weight": _pick(state, ["layernorm.weight"], "final layernorm"),
        "norm.bias": _pick(state, ["layernorm.bias"], "final layernorm"),
    }
    for i in range(depth):
        prefixes = [p.format(i=i) for p in _LAYER_PREFIXES]
        for ours, hf_names in _LAYER_KEYS.items():
            for kind in ("weight", "bias"):
                out[f"blocks.{i}.{ours}.{kind}"] = _pick(
                    state, [p + n + f".{kind}" for p in prefixes for n in hf_names], f"layer {i} {ours}.{kind}")
        for kind in ("weight", "bias"):
            parts = [_pick(state, [p + n + f".{kind}" for p in prefixes for n in _QKV[c]], f"layer {i} {c}.{kind}")
                     for c in "qkv"]
            out[f"blocks.{i}.attn.qkv.{kind}"] = torch.cat(parts)
    leftover = sorted(state)
    if leftover:
        raise WeightsError(f"HF checkpoint has keys openjepa does not map: {', '.join(leftover[:5])}"
                           f"{' ...' if len(leftover) > 5 else ''}")
    return out


def load_hf_ijepa(folder: str | Path) -> ViT:
    """An openjepa ViT with the weights of an HF I-JEPA folder; same ``last_hidden_state``."""
    folder = Path(folder)
    if not is_hf_ijepa_folder(folder):
        raise WeightsError(f"{folder} is not an HF I-JEPA folder (config.json with model_type 'ijepa')")
    hf = read_hf_config(folder)
    weights = read_safetensors_folder(folder)
    with weights_fit_config(folder, hf):
        config, in_chans, image_size = vit_config_from_hf(hf)
        vit = ViT(config, PatchEmbed2d(in_chans, config.width, config.patch_size), (image_size, image_size))
        vit.load_state_dict(vit_state_from_hf(weights, config.depth))
    return vit.eval()


def load_hf_ijepa_classifier(folder: str | Path) -> tuple[torch.Tensor, torch.Tensor, list[str]] | None:
    """The head of an ``IJepaForImageClassification`` folder: ``(weight (K, D), bias (K,), class names)``, logits
    ``last_hidden_state.mean(1) @ weight.T + bias`` as its ``forward`` computes them; None for a folder without
    one (an ``IJepaModel``)."""
    folder = Path(folder)
    state = read_safetensors_folder(folder)
    if "classifier.weight" not in state:
        return None
    weight, bias = state["classifier.weight"], state["classifier.bias"]
    labels = (read_hf_config(folder) or {}).get("id2label") or {}
    return weight, bias, [str(labels.get(str(i), i)) for i in range(len(weight))]


def hf_config_from_vit(vit: ViT) -> dict:
    width, depth, heads, mlp_ratio = vit.config.resolved()
    return {
        "architectures": ["IJepaModel"], "model_type": "ijepa", "hidden_size": width, "num_hidden_layers": depth,
        "num_attention_heads": heads, "intermediate_size": int(round(width * mlp_ratio)), "hidden_act": "gelu",
        "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0, "initializer_range": 0.02,
        "layer_norm_eps": vit.config.norm_eps, "image_size": vit.image_size[0], "patch_size": vit.config.patch_size,
        "num_channels": vit.in_chans, "qkv_bias": vit.config.qkv_bias,
    }


def export_hf_ijepa(vit: ViT, folder: str | Path, mean: list[float] | None = None,
                    std: list[float] | None = None) -> Path:
    """Write ``config.json`` + ``model.safetensors`` (+ ``preprocessor_config.json`` given mean/std)."""
    if vit.image_size[0] != vit.image_size[1]:
        raise WeightsError("HF I-JEPA export needs a square image size")
    if not vit.config.qkv_bias:
        raise WeightsError("HF I-JEPA has biases on q, k and v; this encoder has none")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    ours = {k: v.detach().cpu() for k, v in vit.state_dict().items()}
    width = vit.width
    state = {
        "embeddings.position_embeddings": ours.pop("pos_embed"),
        "embeddings.patch_embeddings.projection.weight": ours.pop("patch_embed.proj.weight"),
        "embeddings.patch_embeddings.projection.bias": ours.pop("patch_embed.proj.bias"),
        "layernorm.weight": ours.pop("norm.weight"),
        "layernorm.bias": ours.pop("norm.bias"),
    }
    for key in list(ours):
        match = re.fullmatch(r"blocks\.(\d+)\.(.+)\.(weight|bias)", key)
        if match is None:
            raise WeightsError(f"cannot export parameter {key}")
        i, name, kind = match.groups()
        prefix = f"encoder.layer.{i}."
        if name == "attn.qkv":
            for c, part in zip("qkv", ours.pop(key).split(width)):
                state[prefix + _QKV[c][0] + f".{kind}"] = part
        else:
            state[prefix + _LAYER_KEYS[name][0] + f".{kind}"] = ours.pop(key)
    save_file({k: v.contiguous() for k, v in state.items()}, folder / "model.safetensors", metadata={"format": "pt"})
    (folder / "config.json").write_text(json.dumps(hf_config_from_vit(vit), indent=2) + "\n")
    if mean is not None and std is not None:
        size = vit.image_size[0]
        (folder / "preprocessor_config.json").write_text(json.dumps({
            "image_processor_type": "ViTImageProcessor", "do_resize": True, "size": {"height": size, "width": size},
            "do_rescale": True, "rescale_factor": 1 / 255, "do_normalize": True, "image_mean": mean, "image_std": std,
        }, indent=2) + "\n")
    return folder
