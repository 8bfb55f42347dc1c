import math

import pytest
import torch

from openjepa.modalities.patches import PatchEmbed2d
from openjepa.nn import MaskTokenPredictor, PredictorConfig, ViT, ViTConfig, sincos_1d, sincos_grid
from openjepa.nn.attention import attention
from openjepa.nn.predictor import block_attention_mask


def test_sincos_values_and_shapes():
    emb = sincos_1d(torch.tensor([0.0, 1.0]), 8)
    assert torch.allclose(emb[0], torch.tensor([0, 0, 0, 0, 1, 1, 1, 1.0]))
    assert math.isclose(float(emb[1, 0]), math.sin(1.0), rel_tol=1e-6)
    table = sincos_grid((3, 5), 16)
    assert table.shape == (15, 16)
    # rows share the row half of the embedding, columns the column half
    assert torch.equal(table[0, :8], table[4, :8]) and not torch.equal(table[0, 8:], table[4, 8:])
    assert sincos_grid((2, 2, 2), 24).shape == (8, 24)


@pytest.mark.parametrize("size,expected", [("tiny", (192, 12, 3)), ("small", (384, 12, 6)), ("base", (768, 12, 12)),
                                           ("large", (1024, 24, 16)), ("huge", (1280, 32, 16)), ("giant", (1408, 40, 16))])
def test_vit_sizes(size, expected):
    assert ViTConfig(size=size).resolved()[:3] == expected


def test_vit_shapes_and_bad_input():
    vit = ViT(ViTConfig(width=32, depth=2, heads=2, patch_size=4), PatchEmbed2d(1, 32, 4), (16, 16))
    assert vit(torch.randn(3, 1, 16, 16)).shape == (3, 16, 32)
    assert vit(torch.randn(2, 1, 24, 24)).shape == (2, 36, 32)  # other sizes: fresh sincos table
    with pytest.raises(ValueError, match=r"expected images of shape \(B, 1, H, W\)"):
        vit(torch.randn(2, 3, 16, 16))
    with pytest.raises(ValueError, match="not a multiple of the patch size 4"):
        vit(torch.randn(2, 1, 18, 18))


def test_encoding_a_subset_with_padding_ignores_the_pads():
    torch.manual_seed(0)
    vit = ViT(ViTConfig(width=32, depth=2, heads=2, patch_size=4), PatchEmbed2d(1, 32, 4), (16, 16)).eval()
    tokens = vit.tokenize(torch.randn(1, 1, 16, 16))
    keep = torch.tensor([[0, 3, 5, 9]])
    plain = vit.encode(tokens, keep)
    padded = vit.encode(tokens, torch.tensor([[0, 3, 5, 9, 0, 0]]), torch.tensor([[True] * 4 + [False] * 2]))
    assert torch.allclose(plain, padded[:, :4], atol=1e-5)


def test_cpu_bf16_attention_path_matches_sdpa():
    q, k, v = (torch.randn(2, 3, 10, 16) for _ in range(3))
    mask = torch.rand(2, 1, 1, 10) > 0.3
    mask[..., 0] = True
    ref = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    out = attention(q.bfloat16(), k.bfloat16(), v.bfloat16(), mask).float()
    assert torch.allclose(ref, out, atol=3e-2)


def test_block_mask_lets_context_see_only_context():
    m = block_attention_mask(num_ctx=2, num_blocks=2, block_len=1, valid=None)[0, 0]
    expected = torch.tensor([[1, 1, 0, 0], [1, 1, 0, 0], [1, 1, 1, 0], [1, 1, 0, 1]], dtype=torch.bool)
    assert torch.equal(m, expected)


def test_predictor_blocks_are_independent_and_match_one_pass_per_block():
    torch.manual_seed(0)
    pred = MaskTokenPredictor(PredictorConfig(width=16, depth=2, heads=2), enc_dim=32, grid=(4, 4)).eval()
    ctx = torch.randn(2, 5, 32)
    ctx_idx = torch.tensor([[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]])
    tgt = torch.tensor([[[10, 11], [12, 13], [14, 15]], [[0, 1], [2, 3], [14, 15]]])
    joint = pred(ctx, ctx_idx, tgt)
    assert joint.shape == (2, 3, 2, 32)
    for k in range(3):
        alone = pred(ctx, ctx_idx, tgt[:, k : k + 1])
        assert torch.allclose(joint[:, k], alone[:, 0], atol=1e-5)
    # padding a block does not change the real positions' predictions
    valid = torch.ones(2, 3, 3, dtype=torch.bool)
    valid[:, :, 2] = False
    padded = pred(ctx, ctx_idx, torch.cat([tgt, tgt[:, :, :1]], dim=2), tgt_valid=valid)
    assert torch.allclose(padded[:, :, :2], joint, atol=1e-5)
