"""MC-JEPA: the flow head's upsampling and occlusion test, the sprites' true flow under the warping convention, and
a run end to end: train, evaluate (flow end-point error, content probe), and ``openjepa flow`` on a video file."""

import json

import numpy as np
import pytest
import torch
from cli_process import run_cli

from openjepa.core.errors import ConfigError
from openjepa.data.sprites import make_sprites
from openjepa.nn.flow_head import FlowHead, FlowHeadConfig, block_matching, convex_upsample
from openjepa.nn.flow_ops import warp
from openjepa.objectives.flow_losses import occluded
from openjepa.runs.config import build_config, recipe_dict

MCJEPA_TINY = ["data.frames=4", "data.image_size=16", "data.train_size=64", "encoder.width=32", "encoder.depth=1",
               "encoder.heads=2", "method.pyramid.width=16", "method.flow_head.hidden=8", "method.projector.hidden=32",
               "method.projector.out=16", "train.batch_size=8", "train.precision=fp32", "optim.warmup_steps=1",
               "eval.max_train=64"]


def test_convex_upsampling_keeps_a_uniform_flow_and_can_pick_one_neighbour():
    flow = torch.randn(2, 2, 3, 5)
    uniform = torch.full((2, 9, 4, 4, 3, 5), 1 / 9)
    constant = torch.ones(1, 2, 3, 5) * torch.tensor([1.5, -2.0])[None, :, None, None]
    inside = convex_upsample(constant, uniform[:1], 4)[:, :, 4:8, 4:16]  # away from the zero-padded border
    assert torch.allclose(inside, torch.tensor([6.0, -8.0])[None, :, None, None].expand_as(inside))
    centre = torch.zeros(2, 9, 4, 4, 3, 5)
    centre[:, 4] = 1  # every pixel takes its own cell: nearest upsampling, vectors in pixels
    expected = flow.repeat_interleave(4, 2).repeat_interleave(4, 3) * 4
    assert torch.allclose(convex_upsample(flow, centre, 4), expected)


def test_flows_that_disagree_mark_occlusions_and_the_untrained_head_already_matches():
    forward = torch.zeros(1, 2, 8, 8)
    forward[:, 0] = 2.0
    assert not occluded(forward, -forward).any()
    backward = -forward.clone()
    backward[:, :, 2:4, 2:4] = 0.0  # pixels the backward flow leaves where they are
    hidden = occluded(forward, backward)
    assert hidden.any() and hidden.float().mean() < 0.25
    torch.manual_seed(0)
    head = FlowHead(FlowHeadConfig(radius=1, hidden=8), width=16, levels=3, factor=4)
    maps = [torch.randn(2, 16, s, s) for s in (2, 4, 8)]
    levels, pixels = head(maps, maps)
    assert [tuple(f.shape) for f in levels] == [(2, 2, 2, 2), (2, 2, 4, 4), (2, 2, 8, 8)]
    assert pixels.shape == (2, 2, 32, 32)
    one_level = FlowHead(FlowHeadConfig(radius=1, hidden=8), width=16, levels=1, factor=4)
    moved = torch.roll(maps[-1], shifts=1, dims=3)  # every cell's content one cell to the right
    flow = one_level([maps[-1]], [moved])[0][0][:, :, 1:-1, 1:-2]  # away from the borders and the wrapped column
    assert flow[:, 0].median() > 0.95 and flow[:, 0].mean() > 0.85  # the soft-argmax finds the shift
    assert flow[:, 1].abs().mean() < 0.05


def test_the_sprites_true_flow_brings_the_next_frame_back_onto_the_sprite():
    clips = make_sprites(16, seed=3, frames=4, size=32, walls="none")
    truth = clips.true_flow()  # (N, 3, 2, H, W)
    frames = clips.clips.float().div(255).permute(0, 2, 1, 3, 4)  # (N, T, C, H, W)
    first, second = frames[:, :-1].flatten(0, 1), frames[:, 1:].flatten(0, 1)
    inside = clips.masks[:, :-1].flatten(0, 1)
    core = inside & torch.nn.functional.max_pool2d((~inside)[:, None].float(), 3, 1, 1)[:, 0].eq(0)  # not the rim
    error = lambda flow: ((warp(second, flow) - first).abs().mean(1) * core).sum() / core.sum()  # noqa: E731
    assert error(truth.flatten(0, 1)) < 0.2 * error(torch.zeros_like(truth.flatten(0, 1)))
    assert truth.abs().amax(dim=(2, 3, 4)).gt(0).all()  # every pair moves


def test_block_matching_on_pixels_finds_a_texture_shift_and_the_camera_pan():
    torch.manual_seed(0)
    texture = torch.nn.functional.avg_pool2d(torch.rand(2, 3, 44, 44), 3, 1)  # (2, 3, 42, 42), smooth
    first, second = texture[:, :, 5:37, 5:37], texture[:, :, 6:38, 4:36]  # content moves right 1, up 1
    flow = block_matching(first, second)[:, :, 4:-4, 4:-4]
    assert (flow[:, 0] - 1).abs().median() < 0.05 and (flow[:, 1] + 1).abs().median() < 0.05
    clips = make_sprites(32, seed=3, frames=3, size=32, walls="none", pan=2)
    truth = clips.true_flow()[:, 0]
    frames = clips.clips.float().div(255)
    error = (block_matching(frames[:, :, 0], frames[:, :, 1]) - truth).norm(dim=1).mean()
    assert error < 0.5 * truth.norm(dim=1).mean()  # half zero flow's error, untrained


def _mjpeg(path, frames=5, size=24, row=8):
    """An MJPEG .avi of a bright square moving right by 2 px a frame, at ``row``."""
    av = pytest.importorskip("av")
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mjpeg", rate=10)
        stream.width = stream.height = size
        stream.pix_fmt = "yuvj420p"
        for t in range(frames):
            img = np.full((size, size, 3), 40, np.uint8)
            img[row : row + 6, 4 + 2 * t : 10 + 2 * t] = 230
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def test_mcjepa_trains_evaluates_and_writes_the_flow_of_a_video(tmp_path):
    run = tmp_path / "run"
    done = run_cli(["train", "mcjepa_tiny", "--out", str(run), "--steps", "3", "--quiet", *MCJEPA_TINY], timeout=600)
    assert done.code == 0, done.err
    logged = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert {"feature", "photometric", "smoothness", "cycle", "varcov", "content"} <= set(logged[-1])
    done = run_cli(["eval", str(run)], timeout=600)
    assert done.code == 0, done.err
    results = json.loads((run / "eval.json").read_text())
    flow, linear = results["flow"], results["linear"]
    assert flow["epe_zero"] > 0 and flow["epe_moving_zero"] > flow["epe_zero"] and flow["pairs"] == 200 * 3
    assert {"trained", "random_init", "raw_input"} <= set(linear) and all(0 <= v <= 1 for v in linear.values())
    assert (run / "plots" / "flow.png").is_file()
    video = tmp_path / "clip.avi"
    _mjpeg(video)
    out = tmp_path / "flow.npy"
    done = run_cli(["flow", str(run), str(video), "--out", str(out), "--png", str(tmp_path / "flow.png")])
    assert done.code == 0, done.err
    flows = np.load(out)
    assert flows.shape == (4, 2, 16, 16) and flows.dtype == np.float32 and np.isfinite(flows).all()
    assert (tmp_path / "flow.png").is_file()
    again = run_cli(["flow", str(run), str(video), "--out", str(out)])
    assert again.code == 2 and "exists" in again.err and np.array_equal(np.load(out), flows)
    for split in ("train", "test"):  # a folder of videos: the content probe reads its classes, no true flow
        for label, row in (("high", 2), ("low", 14)):
            for i in range(3):
                _mjpeg(tmp_path / "videos" / split / label / f"{i}.avi", row=row + i % 2)
    done = run_cli(["eval", str(run), "--data", str(tmp_path / "videos"), "--out", str(tmp_path / "folder.json")])
    assert done.code == 0, done.err
    folder = json.loads((tmp_path / "folder.json").read_text())
    assert "flow" not in folder and folder["meta"]["content_label"] == "class"
    assert set(folder["linear"]) == {"trained", "random_init", "raw_input"}


def test_a_pyramid_without_a_lateral_patch_level_is_refused():
    with pytest.raises(ConfigError, match="patch_level must be lateral"):
        build_config(recipe_dict("mcjepa_tiny"), ["method.pyramid.patch_level=tokens"])
