"""HF transformers V-JEPA 2 checkpoints (``VJEPA2Model.save_pretrained`` folders) <-> openjepa encoder + predictor.

Files: ``config.json`` (model_type ``vjepa2``) and ``model.safetensors``. HF clips are
``(B, T, C, H, W)``; openjepa's are ``(B, C, T, H, W)``. Loaded models use RoPE with the
reference frequency layout (``rope_reference_quirk``) and keep every predictor mask
token; HF always predicts with token ``1 % pred_num_mask_tokens``
(:data:`HF_MASK_INDEX`). HF decodes token positions on a square ``crop_size`` grid, so
parity holds for square clips of ``crop_size`` pixels.
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
from openjepa.modalities.tubelets import TubeletEmbed3d
from openjepa.nn.predictor import MaskTokenPredictor, PredictorConfig, gather_tokens
from openjepa.nn.vit import ViT, ViTConfig

# per-layer: openjepa suffix -> HF suffix (shared by encoder and predictor layers)
_LAYER_KEYS = {"norm1": "norm1", "attn.proj": "attention.proj", "norm2": "norm2", "mlp.fc1": "mlp.fc1",
               "mlp.fc2": "mlp.fc2"}
_QKV = ("attention.query", "attention.key", "attention.value")
_ENCODER_KEYS = {"patch_embed.proj": "encoder.embeddings.patch_embeddings.proj", "norm": "encoder.layernorm"}
_PREDICTOR_KEYS = {"embed": "predictor.embeddings.predictor_embeddings", "norm": "predictor.layernorm",
                   "proj": "predictor.proj"}
_MASK_TOKENS = "predictor.embeddings.mask_tokens"


def hf_mask_index(predictor: MaskTokenPredictor) -> int:
    """The mask token HF's V-JEPA 2 predictor always uses: ``1 % pred_num_mask_tokens``."""
    return 1 % predictor.mask_tokens.shape[0]


def is_hf_vjepa2_folder(folder: Path) -> bool:
    return (read_hf_config(folder) or {}).get("model_type") == "vjepa2"


def hf_vjepa2_input_spec(vit: ViT) -> InputSpec:
    """What an HF V-JEPA 2 encoder reads: clips of its channels, frames and size."""
    return InputSpec("video", vit.in_chans, tuple(vit.image_size), frames=vit.input_size[0])


def configs_from_hf(hf: dict) -> tuple[ViTConfig, PredictorConfig, int, tuple[int, int, int], int]:
    """``(encoder config, predictor config, in_chans, (frames, size, size), mask tokens)`` of an HF config dict."""
    if hf.get("hidden_act", "gelu") != "gelu":
        raise WeightsError(f"hidden_act '{hf['hidden_act']}' is not supported (only exact 'gelu')")
    eps, bias = hf.get("layer_norm_eps", 1e-6), hf.get("qkv_bias", True)
    encoder = ViTConfig(size="tiny", patch_size=hf.get("patch_size", 16), width=hf.get("hidden_size", 1024),
                        depth=hf.get("num_hidden_layers", 24), heads=hf.get("num_attention_heads", 16),
                        mlp_ratio=hf.get("mlp_ratio", 4.0), qkv_bias=bias, norm_eps=eps, pos_embed="rope",
                        tubelet=hf.get("tubelet_size", 2), rope_reference_quirk=True)
    predictor = PredictorConfig(width=hf.get("pred_hidden_size", 384), depth=hf.get("pred_num_hidden_layers", 12),
                                heads=hf.get("pred_num_attention_heads", 12), mlp_ratio=hf.get("pred_mlp_ratio", 4.0),
                                pos_embed="rope", rope_reference_quirk=True, qkv_bias=bias, norm_eps=eps)
    size = (hf.get("frames_per_clip", 64), hf.get("crop_size", 256), hf.get("crop_size", 256))
    return encoder, predictor, hf.get("in_chans", 3), size, hf.get("pred_num_mask_tokens", 10)


def _take(state: dict, name: str) -> torch.Tensor:
    if name not in state:
        raise WeightsError(f"HF V-JEPA 2 checkpoint lacks {name}")
    return state.pop(name)


def _blocks_from_hf(state: dict, prefix: str, depth: int, qkv_bias: bool) -> dict[str, torch.Tensor]:
    out = {}
    for i in range(depth):
        p = f"{prefix}.layer.{i}."
        for ours, theirs in _LAYER_KEYS.items():
            for kind in ("weight", "bias"):
                out[f"blocks.{i}.{ours}.{kind}"] = _take(state, f"{p}{theirs}.{kind}")
        out[f"blocks.{i}.attn.qkv.weight"] = torch.cat([_take(state, f"{p}{n}.weight") for n in _QKV])
        if qkv_bias:
            out[f"blocks.{i}.attn.qkv.bias"] = torch.cat([_take(state, f"{p}{n}.bias") for n in _QKV])
    return out


def _named(state: dict, names: dict[str, str]) -> dict[str, torch.Tensor]:
    return {f"{ours}.{kind}": _take(state, f"{theirs}.{kind}") for ours, theirs in names.items()
            for kind in ("weight", "bias")}


def load_hf_vjepa2(folder: str | Path) -> tuple[ViT, MaskTokenPredictor]:
    """The encoder and predictor of an HF V-JEPA 2 folder, in eval mode; unknown keys are an error."""
    folder = Path(folder)
    if not is_hf_vjepa2_folder(folder):
        raise WeightsError(f"{folder} is not an HF V-JEPA 2 folder (config.json with model_type 'vjepa2')")
    hf = read_hf_config(folder)
    state = {k.removeprefix("vjepa2."): v for k, v in read_safetensors_folder(folder).items()}
    with weights_fit_config(folder, hf):
        enc_cfg, pred_cfg, in_chans, size, mask_tokens = configs_from_hf(hf)
        vit = ViT(enc_cfg, TubeletEmbed3d(in_chans, enc_cfg.width, enc_cfg.patch_size, enc_cfg.tubelet), size)
        predictor = MaskTokenPredictor(pred_cfg, vit.width, vit.grid, num_mask_tokens=mask_tokens)
        vit.load_state_dict({**_named(state, _ENCODER_KEYS),
                             **_blocks_from_hf(state, "encoder", enc_cfg.depth, enc_cfg.qkv_bias)})
        pred_state = {**_named(state, _PREDICTOR_KEYS), "mask_tokens": _take(state, _MASK_TOKENS).flatten(1, 2),
                      **_blocks_from_hf(state, "predictor", pred_cfg.depth, pred_cfg.qkv_bias)}
        predictor.load_state_dict(pred_state)
    leftover = sorted(k for k in state if not k.startswith(("pooler.", "classifier.")))
    if leftover:
        raise WeightsError(f"HF checkpoint has keys openjepa does not map: {', '.join(leftover[:5])}"
                           f"{' ...' if len(leftover) > 5 else ''}")
    return vit.eval(), predictor.eval()


@torch.no_grad()
def predict_like_hf(vit: ViT, predictor: MaskTokenPredictor, clips: torch.Tensor, context: torch.Tensor,
                    target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """What ``VJEPA2Model`` returns for clips ``(B, C, T, H, W)`` and token ids ``context (B, Lc)``,
    ``target (B, Lt)``: encoder features of the whole clip ``(B, N, D)`` and the predictor's
    output at the targets ``(B, Lt, D)``. (HF encodes the whole clip and then picks the context
    tokens; V-JEPA training encodes only the context tokens.)"""
    features = vit(clips)
    pred = predictor(gather_tokens(features, context), context, target[:, None], mask_index=hf_mask_index(predictor))
    return features, pred[:, 0]


def _blocks_to_hf(ours: dict, prefix: str, width: int) -> dict[str, torch.Tensor]:
    out = {}
    for key in list(ours):
        match = re.fullmatch(r"blocks\.(\d+)\.(.+)\.(weight|bias)", key)
        if match is None:
            continue
        i, name, kind = match.groups()
        p = f"{prefix}.layer.{i}."
        if name == "attn.qkv":
            for hf_name, part in zip(_QKV, ours.pop(key).split(width)):
                out[f"{p}{hf_name}.{kind}"] = part
        else:
            out[f"{p}{_LAYER_KEYS[name]}.{kind}"] = ours.pop(key)
    return out


def hf_config(vit: ViT, predictor: MaskTokenPredictor) -> dict:
    width, depth, heads, mlp_ratio = vit.config.resolved()
    p = predictor.config
    return {
        "architectures": ["VJEPA2Model"], "model_type": "vjepa2", "patch_size": vit.config.patch_size,
        "crop_size": vit.input_size[1], "frames_per_clip": vit.input_size[0], "tubelet_size": vit.config.tubelet,
        "hidden_size": width, "in_chans": vit.in_chans, "num_attention_heads": heads, "num_hidden_layers": depth,
        "drop_path_rate": 0.0, "mlp_ratio": mlp_ratio, "layer_norm_eps": vit.config.norm_eps,
        "qkv_bias": vit.config.qkv_bias, "attention_probs_dropout_prob": 0.0, "hidden_act": "gelu",
        "initializer_range": 0.02, "attention_dropout": 0.0, "num_pooler_layers": 3,
        "pred_hidden_size": p.width, "pred_num_attention_heads": p.heads, "pred_num_hidden_layers": p.depth,
        "pred_num_mask_tokens": predictor.mask_tokens.shape[0], "pred_zero_init_mask_tokens": True,
        "pred_mlp_ratio": p.mlp_ratio,
    }


def export_hf_vjepa2(vit: ViT, predictor: MaskTokenPredictor, folder: str | Path) -> Path:
    """Write ``config.json`` + ``model.safetensors`` that ``VJEPA2Model.from_pretrained`` reads."""
    if vit.config.pos_embed != "rope" or not vit.config.rope_reference_quirk or predictor.config.pos_embed != "rope" \
            or not predictor.config.rope_reference_quirk:
        raise WeightsError("HF V-JEPA 2 computes RoPE with the reference frequency layout: export needs "
                           "pos_embed=rope and rope_reference_quirk=true in encoder and predictor")
    if vit.input_size[1] != vit.input_size[2]:
        raise WeightsError("HF V-JEPA 2 decodes positions on a square grid: export needs square clips")
    if predictor.config.qkv_bias != vit.config.qkv_bias or predictor.config.norm_eps != vit.config.norm_eps:
        raise WeightsError("HF V-JEPA 2 shares qkv_bias and layer_norm_eps between encoder and predictor")
    enc = {k: v.detach().cpu() for k, v in vit.state_dict().items()}
    pred = {k: v.detach().cpu() for k, v in predictor.state_dict().items() if k != "pos_embed"}
    state = {f"{theirs}.{kind}": enc.pop(f"{ours}.{kind}") for ours, theirs in _ENCODER_KEYS.items()
             for kind in ("weight", "bias")}
    state.update({f"{theirs}.{kind}": pred.pop(f"{ours}.{kind}") for ours, theirs in _PREDICTOR_KEYS.items()
                  for kind in ("weight", "bias")})
    state[_MASK_TOKENS] = pred.pop("mask_tokens")[:, :, None]
    state.update(_blocks_to_hf(enc, "encoder", vit.width))
    state.update(_blocks_to_hf(pred, "predictor", predictor.config.width))
    if enc or pred:
        raise WeightsError(f"cannot export parameters {sorted(enc) + sorted(pred)}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in state.items()}, folder / "model.safetensors", metadata={"format": "pt"})
    (folder / "config.json").write_text(json.dumps(hf_config(vit, predictor), indent=2) + "\n")
    return folder
