"""Parity with transformers' own IJepaModel on folders it writes, and export back."""

import json

import pytest
import torch

import openjepa
from openjepa.core.errors import DataError, WeightsError
from openjepa.interop.hf_ijepa import export_hf_ijepa, load_hf_ijepa

transformers = pytest.importorskip("transformers")


def _hf_model(channels=3, size=16):
    config = transformers.IJepaConfig(hidden_size=48, num_hidden_layers=2, num_attention_heads=3, intermediate_size=96,
                                      image_size=size, patch_size=4, num_channels=channels, layer_norm_eps=1e-6)
    torch.manual_seed(0)
    return transformers.IJepaModel(config).eval()


@pytest.mark.parametrize("channels", [1, 3])
def test_load_matches_ijepa_model(tmp_path, channels):
    hf = _hf_model(channels)
    hf.save_pretrained(tmp_path)
    ours = openjepa.load(tmp_path)
    x = torch.randn(4, channels, 16, 16)
    with torch.no_grad():
        expected = hf(pixel_values=x).last_hidden_state
        got = ours(x)
    assert got.shape == expected.shape == (4, 16, 48)
    assert (got - expected).abs().max() < 1e-4
    with pytest.raises(DataError, match="video encoder"):
        openjepa.embed(ours, torch.zeros(2, channels, 16, 16, dtype=torch.uint8), per_step=True)


def test_export_round_trips_through_transformers(tmp_path):
    hf = _hf_model()
    hf.save_pretrained(tmp_path / "hf")
    ours = load_hf_ijepa(tmp_path / "hf")
    export_hf_ijepa(ours, tmp_path / "out", mean=[0.5] * 3, std=[0.25] * 3)
    again = transformers.IJepaModel.from_pretrained(tmp_path / "out").eval()
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        assert (again(pixel_values=x).last_hidden_state - hf(pixel_values=x).last_hidden_state).abs().max() < 1e-5
    reloaded = openjepa.load(tmp_path / "out")
    assert reloaded.input_mean == [0.5] * 3
    for k, v in ours.state_dict().items():
        assert torch.equal(v, reloaded.state_dict()[k]), k


def test_trained_run_exports_to_transformers(tmp_path, tiny_overrides):
    from openjepa.data.digits import load_digits
    from openjepa.runs.config import build_config, recipe_dict
    from openjepa.train.loop import fit

    run = fit(build_config(recipe_dict("ijepa_tiny"), tiny_overrides + ["train.steps=3"]), tmp_path / "run",
              progress=False, data=load_digits(size=16))
    ours = openjepa.load(run)
    export_hf_ijepa(ours, tmp_path / "hf", ours.input_mean, ours.input_std)
    hf = transformers.IJepaModel.from_pretrained(tmp_path / "hf").eval()
    x = torch.randn(3, 1, 16, 16)
    with torch.no_grad():
        assert (hf(pixel_values=x).last_hidden_state - ours(x)).abs().max() < 1e-4
    prep = json.loads((tmp_path / "hf" / "preprocessor_config.json").read_text())
    assert prep["image_mean"] == pytest.approx(ours.input_mean)


def test_bad_hf_folders_give_clear_errors(tmp_path):
    hf = _hf_model()
    hf.save_pretrained(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"garbage")
    with pytest.raises(WeightsError, match="cannot read weights"):
        load_hf_ijepa(tmp_path)
    with pytest.raises(WeightsError, match="not an HF I-JEPA folder"):
        load_hf_ijepa(tmp_path / "missing")
