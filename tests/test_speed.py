"""Speed work that must not change results: packed tokens equal padded ones, diagnostics only where asked, FLOPs of
CPU attention counted, and the side-by-side benchmark against the reference step."""

import json

import pytest
import torch
import torch.nn.functional as F
from cli_process import run_cli

from openjepa.bench.flops import count_flops
from openjepa.bench.reference_ijepa import ReferenceStep
from openjepa.bench.vs_reference import equal_masks
from openjepa.core.device import native_bf16
from openjepa.masks.multiblock import MultiBlockConfig, MultiBlockMasker, collate_block_masks
from openjepa.nn.packing import Packing
from openjepa.nn.predictor import MaskTokenPredictor, PredictorConfig
from openjepa.runs.build import build_method
from openjepa.runs.config import build_config


def _ijepa():
    torch.manual_seed(0)
    cfg = build_config({"method": {"name": "ijepa", "predictor": {"width": 48, "depth": 2, "heads": 2}},
                        "encoder": {"size": "tiny", "patch_size": 8, "depth": 2},
                        "data": {"modality": "image", "mean": [0.5] * 3, "std": [0.25] * 3},
                        "spec": {"modality": "image", "channels": 3, "size": [32, 32]}})
    return build_method(cfg)


def _masks(n: int, grid: int = 4) -> dict[str, torch.Tensor]:
    masker = MultiBlockMasker(MultiBlockConfig(num_targets=3, context_scale=(0.5, 1.0)), (grid, grid))
    return collate_block_masks([masker(0, 0, i) for i in range(n)])


def test_packing_round_trip():
    valid = torch.tensor([[True, True, False], [True, False, False]])
    packing = Packing.of(valid)
    x = torch.arange(6.0).view(2, 3, 1)
    assert packing.pack(x).flatten().tolist() == [0.0, 1.0, 3.0]
    assert packing.unpack(packing.pack(x)).flatten().tolist() == [0.0, 1.0, 0.0, 3.0, 0.0, 0.0]
    assert Packing.of(torch.ones(2, 3, dtype=torch.bool)) is None and Packing.of(None) is None


def test_padded_batch_encodes_each_image_as_alone():
    """The encoder on a padded batch (run packed) gives every image's real tokens what it gives that image alone,
    unpadded; the gradients agree too."""
    method = _ijepa()
    masks = _masks(6)
    images = torch.randn(6, 3, 32, 32)
    assert not masks["ctx_valid"].all()
    tokens = method.encoder.tokenize(images)
    batched = method.encoder.encode(tokens, masks["ctx_idx"], masks["ctx_valid"])
    batched[masks["ctx_valid"]].square().sum().backward()
    grad_batched = method.encoder.blocks[0].mlp.fc1.weight.grad.clone()
    method.encoder.zero_grad()
    total = 0
    for i in range(6):
        keep = masks["ctx_idx"][i][masks["ctx_valid"][i]][None]
        alone = method.encoder.encode(method.encoder.tokenize(images[i : i + 1]), keep)
        torch.testing.assert_close(batched[i, : keep.shape[1]], alone[0], atol=1e-5, rtol=1e-5)
        assert batched[i, keep.shape[1]:].abs().sum() == 0  # pads come out as zeros
        total = total + alone.square().sum()
    total.backward()
    torch.testing.assert_close(grad_batched, method.encoder.blocks[0].mlp.fc1.weight.grad, atol=1e-4, rtol=1e-4)


def test_padded_predictor_equals_each_sample_alone():
    torch.manual_seed(0)
    predictor = MaskTokenPredictor(PredictorConfig(width=32, depth=2, heads=2), 24, (4, 4))
    masks = _masks(5)
    context = torch.randn(5, masks["ctx_idx"].shape[1], 24)
    out = predictor(context, masks["ctx_idx"], masks["tgt_idx"], masks["ctx_valid"], masks["tgt_valid"])
    for i in range(5):
        cv = masks["ctx_valid"][i]
        for k in range(3):
            tv = masks["tgt_valid"][i, k]
            alone = predictor(context[i : i + 1, cv], masks["ctx_idx"][i : i + 1, cv],
                              masks["tgt_idx"][i : i + 1, k : k + 1, tv])
            torch.testing.assert_close(out[i, k, tv], alone[0, 0], atol=1e-5, rtol=1e-5)


def test_diagnostics_only_when_asked():
    method = _ijepa()
    masks = _masks(4)
    batch = {"inputs": torch.rand(4, 3, 32, 32), "seed": 0, "step": 0, **masks}
    assert {"rankme", "token_std"} <= set(method(batch).logs)
    assert not {"rankme", "token_std"} & set(method({**batch, "diagnose": False}).logs)


def test_cpu_attention_flops_are_counted():
    q = torch.randn(2, 3, 16, 8, requires_grad=True)
    flops = count_flops(lambda: F.scaled_dot_product_attention(q, q, q).sum().backward())
    forward = 2 * (2 * 2 * 3 * 16 * 16 * 8)  # two batched matmuls
    assert flops == forward + 5 * forward // 2


def test_equal_masks_have_no_padding_and_the_reference_step_learns():
    masks = equal_masks(4, 8)
    assert masks["ctx_idx"].shape[0] == 8 and masks["tgt_idx"].shape[:2] == (8, 4)
    for row, blocks in zip(masks["ctx_idx"], masks["tgt_idx"]):
        assert not set(row.tolist()) & set(blocks.flatten().tolist())  # context and targets stay apart
    torch.manual_seed(0)
    step = ReferenceStep(32, 8, 48, 2, 2, 24, 2, 2, lr=3e-3)
    images = torch.randn(8, 3, 32, 32)
    losses = [step(images, masks["ctx_idx"], masks["tgt_idx"]) for _ in range(15)]
    assert losses[-1] < losses[0]


@pytest.mark.parametrize("args, message", [(["--json", "x.json"], "add --vs-reference")])
def test_bench_json_needs_vs_reference(args, message):
    result = run_cli(["bench", *args], timeout=60)
    assert result.code != 0 and message in result.err


def test_bench_vs_reference_writes_ratios(tmp_path):
    out = tmp_path / "bench.json"
    result = run_cli(["bench", "--vs-reference", "--precision", "fp32", "--rounds", "1", "--steps", "1",
                      "--json", str(out)])
    assert result.code == 0, result.err
    figures = json.loads(out.read_text())
    fp32 = figures["vs_reference"]["fp32"]
    assert fp32["ratio"] == pytest.approx(fp32["openjepa"]["step_s"] / fp32["reference"]["step_s"])
    assert fp32["openjepa"]["gflop"] > 0 and fp32["reference"]["gflop"] > 0
    again = run_cli(["bench", "--vs-reference", "--json", str(out)])
    assert again.code != 0 and "exists" in again.err


def test_bf16_rollouts_rank_plans_as_fp32_does():
    """A bfloat16 copy of the world model scores candidate plans as the fp32 model does (within bf16's precision);
    the model planned with stays fp32."""
    from openjepa.bench.world import world_config
    from openjepa.control.mpc import LatentGoalCost

    torch.manual_seed(0)
    cfg = world_config("lewm_tworoom_tiny")
    model = build_method(cfg).eval().requires_grad_(False)
    for module in model.predictor.modules():  # unit-gain weights: at init the AdaLN gates are zero, rollouts trivial
        if isinstance(module, torch.nn.Linear):
            torch.nn.init.normal_(module.weight, std=module.in_features ** -0.5)
    h, dz, a = model.history, model.latent_dim, cfg.spec.action_dim
    start = (torch.randn(1, h, dz), torch.zeros(1, h - 1, a), torch.randn(1, dz))
    actions = torch.rand(1, 64, cfg.method.plan.horizon, a) * 2 - 1
    costs = {}
    for precision in ("fp32", "bf16"):
        cost = LatentGoalCost(model, "sum", precision=precision)
        cost.set(*start)
        with torch.no_grad():
            costs[precision] = cost(actions)[0]
    assert costs["bf16"].dtype == torch.float32 and next(model.parameters()).dtype == torch.float32
    torch.testing.assert_close(costs["bf16"], costs["fp32"], rtol=0.03, atol=0.0)
    assert costs["fp32"].std() > 0.01  # the candidates differ, so the check above is not about a constant
    best = set(costs["fp32"].argsort()[:8].tolist())
    assert len(best & set(costs["bf16"].argsort()[:8].tolist())) >= 6
    # auto: bf16 where this CPU computes it natively, fp32 elsewhere
    assert LatentGoalCost(model, "sum", precision="auto").dtype == (torch.bfloat16 if native_bf16("cpu")
                                                                     else torch.float32)


def test_the_probes_cross_attention_never_forms_keys_and_values_and_computes_the_same():
    """The attentive probe's pooling block reads each head's query in token space; outputs and gradients equal
    the textbook block that projects every token to keys and values (random LayerNorm affine and biases)."""
    from openjepa.eval.attentive import CrossAttentionBlock

    torch.manual_seed(0)
    block = CrossAttentionBlock(48, heads=4).double()
    with torch.no_grad():
        for p in block.parameters():
            p.add_(torch.randn_like(p) * 0.3)
    queries = torch.randn(5, 2, 48, dtype=torch.float64, requires_grad=True)
    tokens = torch.randn(5, 11, 48, dtype=torch.float64) * 3 + 1

    def textbook(queries):
        B, Q, D = queries.shape
        q = block.q(block.norm_q(queries)).view(B, Q, 4, 12).transpose(1, 2)
        k, v = block.kv(block.norm_kv(tokens)).view(B, -1, 2, 4, 12).permute(2, 0, 3, 1, 4)
        out = queries + block.proj(F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(B, Q, D))
        return out + block.mlp(block.norm2(out))

    results = []
    for forward in (block, lambda q: textbook(q)):
        block.zero_grad()
        queries.grad = None
        out = forward(queries, tokens) if forward is block else forward(queries)
        (out * torch.linspace(-1, 1, out.numel(), dtype=out.dtype).view_as(out)).sum().backward()
        results.append((out.detach(), queries.grad.clone(), {n: p.grad.clone() for n, p in block.named_parameters()}))
    (out, gq, grads), (ref, gq_ref, grads_ref) = results
    torch.testing.assert_close(out, ref)
    torch.testing.assert_close(gq, gq_ref)
    for name, g in grads_ref.items():
        torch.testing.assert_close(grads[name], g, msg=name)
