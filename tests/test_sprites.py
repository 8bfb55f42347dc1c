import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from openjepa.data.augment import flipped, symmetries
from openjepa.data.sprites import (
    DIRECTIONS,
    NOISE,
    PAN,
    SHAPES,
    TRAVEL,
    VideoData,
    VideoSet,
    load_sprites,
    make_physics_quads,
    make_sprites,
)


@pytest.fixture(scope="module")
def sprites() -> VideoSet:
    return make_sprites(96, seed=0)


def _dilate(masks: torch.Tensor, pixels: int = 2) -> torch.Tensor:
    return F.max_pool2d(masks.float(), 2 * pixels + 1, 1, pixels) > 0


def _centroids(masks: torch.Tensor) -> torch.Tensor:
    """``(N, T, 2)`` mean (x, y) of the pixel centres under each mask ``(N, T, H, W)``."""
    h, w = masks.shape[-2:]
    y, x = torch.meshgrid(torch.arange(h) + 0.5, torch.arange(w) + 0.5, indexing="ij")
    m = masks.float()
    area = m.sum((-2, -1))
    return torch.stack([(m * x).sum((-2, -1)) / area, (m * y).sum((-2, -1)) / area], -1)


def test_containers_hold_clips_labels_masks_and_velocities(sprites):
    assert sprites.clips.shape == (96, 3, 8, 32, 32) and sprites.clips.dtype == torch.uint8
    assert sprites.masks.shape == (96, 8, 32, 32) and sprites.masks.dtype == torch.bool
    assert sprites.velocity.shape == (96, 8, 2) and sprites.velocity.dtype == torch.float32
    assert set(sprites.labels) == {"shape", "direction", "speed", "wall", "bounce"}
    assert sprites.classes["direction"] == DIRECTIONS and sprites.classes["shape"] == SHAPES
    clip, label = sprites[5]
    assert len(sprites) == 96 and torch.equal(clip, sprites.clips[5]) and label == int(sprites.labels["direction"][5])
    part = sprites.subset([7, 2])
    assert len(part) == 2 and torch.equal(part.masks[1], sprites.masks[2])
    assert part.labels["speed"].tolist() == sprites.labels["speed"][[7, 2]].tolist() and part.primary == "direction"


def test_deterministic_in_seed_and_train_differs_from_test():
    a, b, c = make_sprites(12, seed=4, frames=4, size=16), make_sprites(12, seed=4, frames=4, size=16), \
        make_sprites(12, seed=5, frames=4, size=16)
    assert torch.equal(a.clips, b.clips) and torch.equal(a.masks, b.masks) and torch.equal(a.velocity, b.velocity)
    assert all(torch.equal(a.labels[k], b.labels[k]) for k in a.labels)
    assert not torch.equal(a.clips, c.clips)
    data = load_sprites(train_size=16, test_size=8, frames=4, size=16)
    assert isinstance(data, VideoData) and data.name == "sprites"
    assert (data.channels, data.frames, data.frame_size, data.image_size) == (3, 4, (16, 16), (16, 16))
    assert len(data.train) == 16 and len(data.test) == 8 and not torch.equal(data.train.clips[:8], data.test.clips)
    mean, std = data.channel_stats()
    assert len(mean) == len(std) == 3
    read_on_demand = VideoData("files", [data.train[i] for i in range(16)], data.test)  # any split of (clip, label)
    assert read_on_demand.frames == 4 and read_on_demand.channel_stats() == (mean, std)
    assert VideoData("files", read_on_demand.train, []).frame_size == (16, 16)  # an empty split is allowed


def test_labels_are_balanced(sprites):
    count = {k: torch.bincount(y).tolist() for k, y in sprites.labels.items()}
    assert count["direction"] == [12] * 8 and count["speed"] == [48, 48] and count["shape"] == [24] * 4
    assert count["wall"] == [64, 16, 16]  # a third between walls, half of them vertical
    assert 0 < count["bounce"][1] < 96  # off a wall or a border
    plain = make_sprites(12, seed=0, frames=4, size=16, walls="none")
    assert not plain.labels["wall"].any()
    walled = make_sprites(12, seed=0, frames=4, size=16, walls="all")
    assert torch.bincount(walled.labels["wall"]).tolist() == [0, 6, 6]


def test_sprite_is_whole_and_inside_the_frame_and_moves_over_a_static_background(sprites):
    masks = sprites.masks
    area = masks.sum((-2, -1)).float()
    assert (area > 10).all() and ((area.max(1).values - area.min(1).values) <= 0.25 * area.mean(1)).all()
    assert not masks[..., 0, :].any() and not masks[..., -1, :].any()
    assert not masks[..., :, 0].any() and not masks[..., :, -1].any()
    x = sprites.clips.int()
    change = (x[:, :, -1] - x[:, :, 0]).abs().amax(1)  # (N, H, W)
    first, last = masks[:, 0], masks[:, -1]
    assert (change[~(_dilate(first) | _dilate(last))] <= 2).all()  # nothing but the sprite (and its faint edge)
    left = first & ~_dilate(last)  # where the sprite was and no longer is: the background shows through
    assert left.sum() > 200 and change[left].float().mean() > 60


def test_velocity_matches_the_motion_of_the_mask(sprites):
    v = sprites.velocity
    assert torch.equal(v[:, -1], v[:, -2])
    centre = _centroids(sprites.masks)
    path = torch.cat([torch.zeros(96, 1, 2), v[:, :-1].cumsum(1)], 1)  # where the velocities say it went
    error = (centre - centre[:, :1] - path).abs()
    assert error.mean() < 0.1 and error.max() < 1  # a binary mask's centroid is good to a fraction of a pixel
    still = sprites.labels["bounce"] == 0
    assert torch.equal(v[still], v[still, :1].expand(-1, 8, -1))  # constant velocity unless it bounced
    angle = sprites.labels["direction"][still].double() * np.pi / 4
    unit = torch.stack([angle.cos(), -angle.sin()], -1)
    speed = torch.tensor(TRAVEL, dtype=torch.float64)[sprites.labels["speed"][still]] * 32 / 7
    assert torch.allclose(v[still, 0].double(), unit * speed[:, None], atol=1e-5)


def test_flipped_labels_follow_the_motion_of_the_flipped_clip(sprites):
    still = sprites.labels["bounce"] == 0
    for symmetry in symmetries("dihedral"):
        centre = _centroids(flipped(sprites.masks[still], symmetry))
        dx, dy = (centre[:, -1] - centre[:, 0]).unbind(-1)
        seen = torch.round(torch.atan2(-dy, dx) / (np.pi / 4)).long() % 8  # north is up (-y)
        assert torch.equal(seen, sprites.flipped_labels("direction", symmetry)[still]), symmetry
        for name in ("shape", "speed", "bounce"):
            assert torch.equal(sprites.flipped_labels(name, symmetry), sprites.labels[name])
        walls = sprites.flipped_labels("wall", symmetry)
        swapped = torch.tensor([0, 2, 1])[sprites.labels["wall"]]
        assert torch.equal(walls, swapped if symmetry[2] else sprites.labels["wall"])  # a transpose turns corridors


def test_sprites_bounce_off_walls_and_borders(sprites):
    bounce, v = sprites.labels["bounce"].bool(), sprites.velocity
    angle = sprites.labels["direction"].double() * np.pi / 4
    speed = torch.tensor(TRAVEL, dtype=torch.float64)[sprites.labels["speed"]] * 32 / 7
    step = (torch.stack([angle.cos(), -angle.sin()], -1) * speed[:, None]).abs()[:, None]  # (N, 1, 2) unfolded
    assert (v.abs() <= step + 1e-4).all()  # a bounce folds the path; it never speeds the sprite up
    still = (v.abs() - step).abs().amax((1, 2)) < 1e-4  # (N,) full speed on every frame: never folded
    assert torch.equal(still, ~bounce) and bounce.sum() >= 16
    assert (bounce & (sprites.labels["wall"] == 0)).any()  # off the frame's borders too


def test_a_single_frame_says_nothing_about_direction_but_frame_changes_do():
    data = make_sprites(800, seed=0, size=16)
    x = data.clips.float() / 255
    first, second = x[:, :, 0], x[:, :, 1]
    ground = first.flatten(2).median(-1).values[:, :, None, None]  # the clip's background colour

    def energy(frame: torch.Tensor) -> torch.Tensor:  # where a frame departs from the background, any contrast
        return ((frame - ground) ** 2).sum(1).flatten(1)

    def probe(features: torch.Tensor) -> float:
        f = features.numpy()
        f = (f - f[:600].mean(0)) / (f[:600].std(0) + 1e-6)
        y = data.labels["direction"].numpy()
        with threadpool_limits(1):  # small problems: threads only contend
            return LogisticRegression(C=0.01, max_iter=300).fit(f[:600], y[:600]).score(f[600:], y[600:])

    single = probe(torch.cat([first.flatten(1), energy(first)], 1))
    change = probe(energy(second) - energy(first))
    assert single < 0.2 and change > 0.35, (single, change)  # chance is 1/8


def test_physics_quadruplets_recombine_two_possible_clips_into_two_impossible_ones():
    possible, impossible, kinds = make_physics_quads(30, seed=0)
    cut, kind = 4, np.repeat(np.array(kinds), 2)
    assert sorted(set(kinds)) == ["teleport", "vanish", "wall"] and kinds.count("wall") == 10
    assert possible.clips.shape == impossible.clips.shape == (60, 3, 8, 32, 32)
    assert possible.labels["violation"].tolist() == [["vanish", "teleport", "wall"].index(k) for k in kind]
    a, b, c, d = possible.clips[0::2], possible.clips[1::2], impossible.clips[0::2], impossible.clips[1::2]
    spliced = torch.from_numpy(np.array(kinds) != "wall")
    assert torch.equal(c[:, :, :cut], a[:, :, :cut]) and torch.equal(d[:, :, :cut], b[:, :, :cut])
    assert torch.equal(c[spliced][:, :, cut:], b[spliced][:, :, cut:])  # C: A, then B
    assert torch.equal(d[spliced][:, :, cut:], a[spliced][:, :, cut:])  # D: B, then A
    for impossible_clip, possible_clip in ((c, a), (d, b)):
        assert (impossible_clip[:, :, cut:] != possible_clip[:, :, cut:]).flatten(1).any(1).all()

    shown = impossible.masks.flatten(2).any(-1)  # (2N, T)
    vanish = torch.from_numpy(kind == "vanish")
    assert not possible.masks[1::2][vanish[1::2]].any()  # B of a vanish quadruplet: the empty scene
    assert (shown[vanish][0::2, :cut].all() and not shown[vanish][0::2, cut:].any()  # C vanishes ...
            and not shown[vanish][1::2, :cut].any() and shown[vanish][1::2, cut:].all())  # ... and D appears
    assert (impossible.velocity[vanish][0::2, cut - 1:] == 0).all()
    teleport = torch.from_numpy(kind == "teleport")
    jump = _centroids(impossible.masks[teleport][0::2, cut - 1:cut + 1])  # C's sprite just before and at the cut
    assert ((jump[:, 1] - jump[:, 0]).norm(dim=-1) > 4).all()

    wall = torch.from_numpy(np.array(kinds) == "wall")
    with_wall, without = a[wall][:, :, 0], b[wall][:, :, 0]  # C and D show the same two backgrounds
    assert torch.equal(c[wall][:, :, 0], with_wall) and torch.equal(d[wall][:, :, 0], without)
    assert ((with_wall != without).flatten(1).sum(1) > 32).all()  # a wall stands in A and C, not in B and D
    bounce_path, free_path = possible.masks[0::2][wall], possible.masks[1::2][wall]
    assert torch.equal(impossible.masks[1::2][wall], bounce_path)  # D bounces as A does
    assert torch.equal(impossible.masks[0::2][wall], free_path)  # C passes as B does
    assert (bounce_path[:, cut:] != free_path[:, cut:]).flatten(1).any(1).all()  # turns back at the wall or goes on


def test_walls_stand_at_any_distance_from_the_sprite(sprites):
    walled = sprites.labels["wall"] > 0
    axis = sprites.labels["wall"][walled] - 1
    v = sprites.velocity[walled].gather(2, axis[:, None, None].expand(-1, 8, 1))[..., 0]  # (W, T) across the walls
    turned = (v * v[:, :1] < 0).float().argmax(1)  # first frame moving back (0: never)
    travelled = v.abs().cumsum(1).gather(1, (turned - 1).clamp_min(0)[:, None])[:, 0]
    assert travelled[turned > 0].max() > 0.2 * 32  # some meet a wall far from where they start


def test_noisy_clips_are_the_plain_scenes_under_fresh_noise_in_every_frame():
    plain, noisy = load_sprites("sprites_no_walls", 64, 8, size=16), load_sprites("sprites_noisy", 64, 8, size=16)
    assert noisy.name == "sprites_noisy"
    for a, b in ((plain.train, noisy.train), (plain.test, noisy.test)):
        assert torch.equal(a.masks, b.masks) and torch.equal(a.velocity, b.velocity)
        assert all(torch.equal(a.labels[k], b.labels[k]) for k in a.labels)
    clean = plain.train.clips.float()
    noise = (noisy.train.clips.float() - clean) / 255
    inside = (clean > 80) & (clean < 175)  # two std from either end of the range: seldom clipped
    assert noise[inside].std().item() == pytest.approx(NOISE, rel=0.05) and abs(noise[inside].mean()) < 0.005
    both = inside[:, :, 1:] & inside[:, :, :-1]
    pairs = torch.stack([noise[:, :, 1:][both], noise[:, :, :-1][both]])  # a pixel in consecutive frames
    assert abs(torch.corrcoef(pairs)[0, 1].item()) < 0.02


def test_a_panning_camera_moves_the_background_by_whole_pixels_and_the_true_flow_says_so():
    pan = load_sprites("sprites_pan", 64, 8).train
    assert pan.camera.shape == (64, 2) and pan.camera.abs().max() == PAN and (pan.camera.abs().sum(1) > 0).any()
    assert make_sprites(8, seed=0).camera is None
    x, near = pan.clips.long(), _dilate(pan.masks)  # the sprite with its faint edge
    size = x.shape[-1]
    rows, cols = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    flow = pan.true_flow()
    compared = 0
    for i in range(len(x)):
        dx, dy = pan.camera[i].long().tolist()
        assert torch.equal(flow[i, :, 0][~pan.masks[i, :-1]], torch.full_like(flow[i, :, 0][~pan.masks[i, :-1]], dx))
        to_y, to_x = rows + dy, cols + dx
        inside = (to_y >= 0) & (to_y < size) & (to_x >= 0) & (to_x < size)
        to_y, to_x = to_y.clamp(0, size - 1), to_x.clamp(0, size - 1)
        for t in range(x.shape[2] - 1):
            seen = inside & ~near[i, t] & ~near[i, t + 1][to_y, to_x]  # background in both frames
            assert torch.equal(x[i, :, t][:, seen], x[i, :, t + 1][:, to_y, to_x][:, seen])
            compared += int(seen.sum())
    assert compared > 0.6 * 64 * 7 * size * size
    still = x[:, :, 1:] - x[:, :, :-1]
    assert still.abs().float().mean() > 3  # the background's texture shows its motion


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="unknown sprite set 'sprites_dark'; built-in: sprites, sprites_walls"):
        load_sprites("sprites_dark")
    with pytest.raises(ValueError, match="frames"):
        make_sprites(4, seed=0, frames=1)
    with pytest.raises(ValueError, match="size"):
        make_sprites(4, seed=0, size=8)
    with pytest.raises(ValueError, match="n must"):
        make_sprites(0, seed=0)
    with pytest.raises(ValueError, match="walls must be one of none, third, all"):
        make_sprites(4, seed=0, walls="some")
    with pytest.raises(ValueError, match="noise must be a std of at least 0, got -0.1"):
        make_sprites(4, seed=0, noise=-0.1)
    with pytest.raises(ValueError, match="pan must be a whole number of pixels >= 0, and walls 'none' with it"):
        make_sprites(4, seed=0, pan=2)
    with pytest.raises(ValueError, match="frames"):
        make_physics_quads(3, seed=0, frames=3)
    good = make_sprites(3, seed=0, frames=2, size=16)
    parts = dict(clips=good.clips, labels=good.labels, classes=good.classes, masks=good.masks, velocity=good.velocity)
    with pytest.raises(ValueError, match="uint8"):
        VideoSet(**{**parts, "clips": good.clips.float()})
    with pytest.raises(ValueError, match="masks"):
        VideoSet(**{**parts, "masks": good.masks[:, :1]})
    with pytest.raises(ValueError, match="velocity"):
        VideoSet(**{**parts, "velocity": good.velocity.long()})
    with pytest.raises(ValueError, match="primary"):
        VideoSet(**parts, primary="colour")
    with pytest.raises(ValueError, match="outside"):
        VideoSet(**{**parts, "labels": {**good.labels, "speed": torch.tensor([0, 1, 2])}})
    with pytest.raises(ValueError, match="differ in shape"):
        VideoData("x", good, make_sprites(3, seed=0, frames=3, size=16))
    with pytest.raises(ValueError, match="empty"):
        VideoData("x", [], [])
