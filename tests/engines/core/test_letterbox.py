"""Letterbox: boxes, keypoints and masks back to source pixels, clipped; its wire form is checked."""
import numpy as np
import pytest

from engines.core.letterbox import Letterbox
from engines.core.spec import PreprocessSpec

SPEC = PreprocessSpec(height=320, width=320)


def test_boxes_past_the_frame_are_clipped_to_it():
    # regression: np.clip(out[:, [0, 2]], ..., out=out[:, [0, 2]]) wrote into a copy, so boxes up to
    # a few pixels outside the frame were published (e.g. y2 = 481.45 on a 480-pixel-high frame)
    box = Letterbox.fit(480, 640, SPEC)
    inside = box.to_input(np.array([[10, 20, 630, 470]], np.float32))
    outside = inside + np.array([[-8, -8, 8, 8]], np.float32)
    mapped = box.to_source(outside, 480, 640)
    np.testing.assert_allclose(mapped, [[0, 4, 640, 480]], atol=1e-3)
    np.testing.assert_allclose(box.to_source(inside, 480, 640), [[10, 20, 630, 470]], atol=1e-3)


def test_keypoints_are_mapped_and_clipped_scores_kept():
    box = Letterbox.fit(480, 640, SPEC)
    points = np.array([[[box.pad_x + 5 * box.scale, box.pad_y + 7 * box.scale, 0.8],
                        [-50.0, 400.0, -1.5]]], np.float32)
    mapped = box.keypoints_to_source(points, 480, 640)
    np.testing.assert_allclose(mapped[0, 0], [5, 7, 0.8], atol=1e-3)
    np.testing.assert_allclose(mapped[0, 1], [0, 480, -1.5], atol=1e-3)
    assert points[0, 1, 0] == -50.0        # the input is not changed


def test_masks_are_cropped_to_the_letterboxed_region():
    box = Letterbox.fit(4, 8, PreprocessSpec(height=8, width=8))    # 8x4 image padded top and bottom
    masks = np.zeros((1, 8, 8), bool)
    masks[0, :, :4] = True                  # the left half, padding included
    source = box.masks_to_source(masks, 4, 8)
    assert source.shape == (1, 4, 8) and source[0, :, :4].all() and not source[0, :, 4:].any()


@pytest.mark.parametrize("wire", [
    None, [1.0, 0, 0, 1, 1], {"scale": 1.0}, {"scale": "1", "pad_x": 0, "pad_y": 0, "resized_w": 1, "resized_h": 1},
    {"scale": 0.0, "pad_x": 0, "pad_y": 0, "resized_w": 1, "resized_h": 1},
    {"scale": float("nan"), "pad_x": 0, "pad_y": 0, "resized_w": 1, "resized_h": 1},
    {"scale": 1.0, "pad_x": -1, "pad_y": 0, "resized_w": 1, "resized_h": 1},
    {"scale": 1.0, "pad_x": 0, "pad_y": 0, "resized_w": True, "resized_h": 1},
])
def test_a_bad_wire_letterbox_is_refused(wire):
    with pytest.raises(ValueError, match="letterbox"):
        Letterbox.from_wire(wire)


def test_wire_round_trip():
    box = Letterbox.fit(480, 640, SPEC)
    assert Letterbox.from_wire(box.to_wire()) == box
