import torch

from openjepa.data.augment import ViewConfig, colour_jitter, gaussian_blur, random_view, resized_crop, rotate_hue


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
