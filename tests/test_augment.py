import pytest
import torch

from openjepa.data.augment import (
    IDENTITY,
    ViewConfig,
    colour_jitter,
    flipped,
    gaussian_blur,
    random_flips,
    random_view,
    resized_crop,
    rotate_hue,
    symmetries,
)


def test_views_have_the_configured_size_and_range():
    images = torch.rand(6, 3, 32, 32)
    cfg = ViewConfig(size=16, blur=0.5, solarize=0.2)
    out = random_view(images, cfg, torch.Generator().manual_seed(0))
    assert out.shape == (6, 3, 16, 16)
    assert out.min() >= 0 and out.max() <= 1


def test_views_are_deterministic_in_the_generator_and_differ_per_image():
    images = torch.rand(4, 3, 32, 32)
    cfg = ViewConfig(blur=0.5)
    a = random_view(images, cfg, torch.Generator().manual_seed(3))
    b = random_view(images, cfg, torch.Generator().manual_seed(3))
    c = random_view(images, cfg, torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and not torch.equal(a, c)
    same = random_view(images[:1].expand(4, -1, -1, -1), cfg, torch.Generator().manual_seed(0))
    assert not torch.allclose(same[0], same[1])


def test_full_crop_without_flip_is_identity():
    images = torch.rand(2, 1, 8, 8)
    out = resized_crop(images, 8, (1.0, 1.0), (1.0, 1.0), 0.0, torch.Generator())
    assert torch.allclose(out, images, atol=1e-5)
    flipped = resized_crop(images, 8, (1.0, 1.0), (1.0, 1.0), 1.0, torch.Generator())
    assert torch.allclose(flipped, images.flip(-1), atol=1e-5)


def test_grey_images_pass_through_colour_ops():
    grey = torch.rand(3, 1, 16, 16)
    cfg = ViewConfig(jitter=1.0, brightness=0.0, contrast=0.0, saturation=0.5, hue=0.5)
    assert torch.allclose(colour_jitter(grey, cfg, torch.Generator()), grey, atol=1e-6)


def test_hue_rotation_keeps_grey_and_full_turn_is_identity():
    images = torch.rand(2, 3, 4, 4)
    turned = rotate_hue(images, torch.full((2,), 2 * torch.pi))
    assert torch.allclose(turned, images, atol=1e-4)
    grey = torch.full((1, 3, 2, 2), 0.5)
    assert torch.allclose(rotate_hue(grey, torch.tensor([1.0])), grey, atol=1e-5)


def test_blur_with_zero_probability_is_identity_and_blur_smooths():
    images = torch.rand(2, 3, 16, 16)
    assert torch.equal(gaussian_blur(images, 0.0, (1.0, 2.0), torch.Generator()), images)
    blurred = gaussian_blur(images, 1.0, (1.5, 2.0), torch.Generator().manual_seed(0))
    assert blurred.std() < images.std()


def _symmetries(frame: torch.Tensor) -> list[torch.Tensor]:
    """The 8 images of ``frame (..., H, W)`` under the square's symmetries."""
    turns = [torch.rot90(frame, k, dims=(-2, -1)) for k in range(4)]
    return turns + [t.flip(-1) for t in turns]


def test_random_flips_draw_the_symmetries_of_the_square_the_same_for_every_frame():
    clip = torch.rand(1, 3, 1, 6, 6).expand(64, -1, 4, -1, -1)  # (B, C, T, H, W), all frames alike
    gen = torch.Generator().manual_seed(0)
    assert torch.equal(random_flips(clip, "none", gen), clip)
    for flips, expected in (("horizontal", 2), ("dihedral", 8)):
        out = random_flips(clip, flips, gen)
        candidates = _symmetries(clip[0])
        seen = set()
        for sample in out:
            assert torch.equal(sample, sample[:, :1].expand_as(sample))  # one draw per clip, not per frame
            seen.add(next(k for k, c in enumerate(candidates) if torch.equal(sample, c)))
        assert len(seen) == expected


def test_dihedral_flips_reject_non_square_frames():
    with pytest.raises(ValueError, match="square frames"):
        random_flips(torch.rand(2, 3, 4, 6, 8), "dihedral", torch.Generator())
    with pytest.raises(ValueError, match="square frames"):
        flipped(torch.rand(2, 3, 4, 6, 8), (False, False, True))


def test_symmetries_list_the_identity_first_and_flipped_applies_each_to_every_sample():
    clip = torch.rand(2, 3, 4, 6, 6)
    assert symmetries("none") == [IDENTITY] and len(symmetries("horizontal")) == 2
    images = [flipped(clip, s) for s in symmetries("dihedral")]
    assert torch.equal(images[0], clip) and torch.equal(images[1], clip.flip(-1))
    candidates = _symmetries(clip)
    assert sorted(next(k for k, c in enumerate(candidates) if torch.equal(x, c)) for x in images) == list(range(8))
