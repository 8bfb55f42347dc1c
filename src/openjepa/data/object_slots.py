"""Object slots from frames and object masks: Causal-JEPA's frozen object-centric encoder, with the masks given (by
a simulator, or a segmenter run beforehand). Each object's slot at a frame is what its pixels show there and at the
frame before: the centroid (x, y in [0, 1], x to the right, y down), how far the centroid moved since the frame before
(0 at the first frame), the share of the frame it covers and its mean colour (RGB in [0, 1]). Reading a pair of
frames, as video slot encoders do, lets one slot tell where an object heads: without it, an object whose history is
masked (Causal-JEPA) keeps only a position at t = 0, and what it did after is a guess, not an inference."""

from __future__ import annotations

import numpy as np

SLOT_FEATURES = ("x", "y", "dx", "dy", "area", "red", "green", "blue")


def mask_pooled_slots(frames: np.ndarray, objects: np.ndarray, count: int) -> np.ndarray:
    """uint8 frames ``(..., T, 3, H, W)`` and object maps ``(..., T, H, W)`` (0: background, n + 1: object n) ->
    slots float32 ``(..., T, count, 8)`` (:data:`SLOT_FEATURES`); an object absent from a frame gets the slot it had
    at the frame before (zeros before its first appearance)."""
    *lead, T, _, H, W = frames.shape
    ys, xs = np.meshgrid((np.arange(H) + 0.5) / H, (np.arange(W) + 0.5) / W, indexing="ij")
    flat = objects.reshape(*objects.shape[:-2], 1, H * W)
    onehot = (flat == np.arange(1, count + 1, dtype=objects.dtype)[:, None]).astype(np.float32)  # (..., N, HW)
    area = onehot.sum(-1)
    safe = np.maximum(area, 1)[..., None]
    centre = onehot @ np.stack([xs.ravel(), ys.ravel()], -1).astype(np.float32)  # (..., N, 2)
    colour = onehot @ (frames.reshape(*frames.shape[:-2], H * W).swapaxes(-1, -2).astype(np.float32) / 255)
    centre = centre / safe
    slots = np.concatenate([centre, np.zeros_like(centre), (area / (H * W))[..., None], colour / safe], -1)
    for t in range(T):
        missing = area[..., t, :] == 0
        if t:
            slots[..., t, :, 2:4] = slots[..., t, :, :2] - slots[..., t - 1, :, :2]
        slots[..., t, :, :][missing] = slots[..., t - 1, :, :][missing] if t else 0.0
    return slots.astype(np.float32)
