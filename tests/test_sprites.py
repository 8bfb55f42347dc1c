import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from openjepa.data.sprites import (
    DIRECTIONS, SHAPES, TRAVEL, VideoData, VideoSet, load_sprites, make_physics_pairs, make_sprites,
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
    plain = make_sprites(12, seed=0, frames=4, size=16, walls=False)
    assert not plain.labels["wall"].any()


def test_sprite_is_whole_and_inside_the_frame_and_moves_over_a_static_background(sprites):
    masks = sprites.masks
    area = masks.sum((-2, -1)).float()
    assert (area > 10).all() and ((area.max(1).values - area.min(1).values) <= 0.25 * area.mean(1)).all()
    assert not masks[..., 0, :].any() and not masks[..., -1, :].any()
    assert not masks[..., :, 0].any() and not masks[..., :, -1].any()
    x = sprites.clips.int()
    change = (x[:, :, -1] - x[:, :, 0]).abs().amax(1)  # (N, H, W)
    first, last = masks[:, 0], masks[:, -1]
    assert (change[~(_dilate(first) | _dilate(last))] == 0).all()  # nothing but the sprite changes
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


def test_physics_pairs_share_the_first_half_and_then_differ():
    possible, impossible, kinds = make_physics_pairs(30, seed=0)
    cut = 4
    assert sorted(set(kinds)) == ["teleport", "vanish", "wall"] and kinds.count("wall") == 10
    assert possible.clips.shape == impossible.clips.shape == (30, 3, 8, 32, 32)
    assert torch.equal(possible.clips[:, :, :cut], impossible.clips[:, :, :cut])
    assert torch.equal(possible.masks[:, :cut], impossible.masks[:, :cut])
    differ = (possible.clips[:, :, cut:] != impossible.clips[:, :, cut:]).flatten(3).any(-1).any(1)  # (N, T - cut)
    assert differ.all()
    assert possible.masks.flatten(2).any(-1).all()
    kind = np.array(kinds)
    assert not impossible.masks[kind == "vanish", cut:].any()
    jump = _centroids(impossible.masks[kind == "teleport", cut]) - _centroids(possible.masks[kind == "teleport", cut])
    assert (jump.norm(dim=-1) > 4).all()
    walled = torch.from_numpy(kind == "wall")
    assert possible.labels["bounce"][walled].all()
    axis = possible.labels["wall"][walled] - 1

    def normal(pairs):  # (W, T) velocity across the wall
        return pairs.velocity[walled].gather(2, axis[:, None, None].expand(-1, 8, 1))[..., 0]

    assert (normal(possible)[:, :cut - 1] * normal(possible)[:, cut:cut + 1] < 0).all()  # heads for it, turns back
    assert (normal(impossible)[:, :cut] * normal(impossible)[:, :1] > 0).all()  # passes through


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="frames"):
        make_sprites(4, seed=0, frames=1)
    with pytest.raises(ValueError, match="size"):
        make_sprites(4, seed=0, size=8)
    with pytest.raises(ValueError, match="n must"):
        make_sprites(0, seed=0)
    with pytest.raises(ValueError, match="frames"):
        make_physics_pairs(3, seed=0, frames=3)
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
