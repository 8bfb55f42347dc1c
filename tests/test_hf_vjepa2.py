"""Parity with transformers' own VJEPA2Model (encoder and predictor) on folders it writes, and export back."""

import pytest
import torch

from openjepa.core.errors import WeightsError
from openjepa.interop.hf_vjepa2 import export_hf_vjepa2, load_hf_vjepa2, predict_like_hf

transformers = pytest.importorskip("transformers")


def _hf_model(**overrides):
    settings = dict(hidden_size=48, num_hidden_layers=2, num_attention_heads=4, pred_hidden_size=32,
                    pred_num_hidden_layers=2, pred_num_attention_heads=4, crop_size=16, frames_per_clip=4,
                    patch_size=4, tubelet_size=2)
    settings.update(overrides)
    torch.manual_seed(0)
    model = transformers.VJEPA2Model(transformers.VJEPA2Config(**settings)).eval()
    with torch.no_grad():  # fresh mask tokens are zero and LayerNorms identity: randomise so parity means something
        for name, p in model.named_parameters():
            if "mask_tokens" in name or "norm" in name:
                p.copy_(torch.randn_like(p) * 0.5 + (1.0 if name.endswith("weight") and "norm" in name else 0.0))
    return model


def _hf_outputs(model, clips, context, target):
    with torch.no_grad():
        out = model(pixel_values_videos=clips.transpose(1, 2), context_mask=[context], target_mask=[target])
    return out.last_hidden_state, out.predictor_output.last_hidden_state


@pytest.mark.parametrize("overrides", [{}, {"qkv_bias": False, "pred_num_mask_tokens": 1, "num_attention_heads": 2}])
@pytest.mark.parametrize("masks", ["full", "partial"])
def test_load_matches_vjepa2_model(tmp_path, overrides, masks):
    hf = _hf_model(**overrides)
    hf.save_pretrained(tmp_path)
    vit, predictor = load_hf_vjepa2(tmp_path)
    clips = torch.randn(2, 3, 4, 16, 16)  # openjepa layout (B, C, T, H, W)
    n = vit.grid[0] * vit.grid[1] * vit.grid[2]
    if masks == "full":
        context = target = torch.arange(n).expand(2, n)
    else:
        perm = torch.stack([torch.randperm(n, generator=torch.Generator().manual_seed(s)) for s in (1, 2)])
        context, target = perm[:, : n // 3], perm[:, n // 3 :]
    features, pred = predict_like_hf(vit, predictor, clips, context, target)
    hf_features, hf_pred = _hf_outputs(hf, clips, context, target)
    assert features.shape == hf_features.shape == (2, n, 48) and pred.shape == hf_pred.shape
    assert (features - hf_features).abs().max() < 1e-4
    assert (pred - hf_pred).abs().max() < 1e-4


def test_export_round_trips_through_transformers(tmp_path):
    hf = _hf_model()
    hf.save_pretrained(tmp_path / "hf")
    vit, predictor = load_hf_vjepa2(tmp_path / "hf")
    export_hf_vjepa2(vit, predictor, tmp_path / "out")
    again = transformers.VJEPA2Model.from_pretrained(tmp_path / "out").eval()
    clips = torch.randn(2, 3, 4, 16, 16)
    context, target = torch.arange(10).expand(2, 10), torch.arange(10, 32).expand(2, 22)
    for a, b in zip(_hf_outputs(again, clips, context, target), _hf_outputs(hf, clips, context, target)):
        assert (a - b).abs().max() < 1e-5
    vit2, predictor2 = load_hf_vjepa2(tmp_path / "out")
    for ours, reloaded in ((vit, vit2), (predictor, predictor2)):
        for k, v in ours.state_dict().items():
            assert torch.equal(v, reloaded.state_dict()[k]), k


def test_bad_folders_say_what_is_wrong(tmp_path):
    with pytest.raises(WeightsError, match="not an HF V-JEPA 2 folder"):
        load_hf_vjepa2(tmp_path)
    hf = _hf_model()
    hf.save_pretrained(tmp_path)
    from safetensors.torch import load_file, save_file
    state = load_file(tmp_path / "model.safetensors")
    state.pop("encoder.layernorm.bias")
    save_file(state, tmp_path / "model.safetensors")
    with pytest.raises(WeightsError, match="encoder.layernorm.bias"):
        load_hf_vjepa2(tmp_path)
