"""letterbox_numpy on known frames, and its agreement with the torch twin.

Tolerance: cv2 rounds resized pixels to uint8 with fixed-point weights while
F.interpolate keeps floats, so the twins may differ by up to one grey level
before normalisation: |numpy - torch| <= 1 / (255 * std) per channel. Without
resizing they agree to float rounding (1e-5).
"""
import numpy as np
import pytest
import torch

from engines.core.letterbox import Letterbox
from engines.core.spec import PreprocessSpec
from engines.ops.letterbox import letterbox_numpy, letterbox_torch, normalisation_tables

torch.set_num_threads(1)
IMAGENET = dict(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))


def uniform_frame(h, w, bgr=(10, 20, 30)):
    frame = np.empty((h, w, 3), np.uint8)
    frame[:] = bgr
    return frame


def test_uniform_frame_interior_padding_and_channel_order():
    spec = PreprocessSpec(64, 64, **IMAGENET)
    tensor, box = letterbox_numpy(uniform_frame(100, 200), spec)
    assert tensor.shape == (3, 64, 64) and tensor.dtype == np.float32
    assert box == Letterbox(0.32, 0, 16, 64, 32)
    mean, std = np.array(IMAGENET["mean"]), np.array(IMAGENET["std"])
    rgb = (np.array([30, 20, 10]) / 255 - mean) / std
    pad = (114 / 255 - mean) / std
    np.testing.assert_allclose(tensor[:, 16:48, :], np.broadcast_to(rgb[:, None, None], (3, 32, 64)),
                               rtol=1e-6)
    np.testing.assert_allclose(tensor[:, :16], np.broadcast_to(pad[:, None, None], (3, 16, 64)),
                               rtol=1e-6)
    np.testing.assert_allclose(tensor[:, 48:], np.broadcast_to(pad[:, None, None], (3, 16, 64)),
                               rtol=1e-6)


def test_bgr_order_float16_and_side_padding():
    spec = PreprocessSpec(32, 32, channel_order="bgr", dtype="float16", pad_value=0)
    tensor, box = letterbox_numpy(uniform_frame(64, 32, (255, 0, 51)), spec)
    assert tensor.dtype == np.float16 and (box.pad_x, box.pad_y) == (8, 0)
    np.testing.assert_allclose(tensor[:, :, 8:24].reshape(3, -1).mean(axis=1), [1.0, 0.0, 0.2],
                               rtol=1e-3)
    assert np.all(tensor[:, :, :8] == 0) and np.all(tensor[:, :, 24:] == 0)


def test_writes_into_out_and_checks_it():
    spec = PreprocessSpec(48, 64)
    out = np.full((3, 48, 64), np.nan, np.float32)
    tensor, _ = letterbox_numpy(uniform_frame(30, 40), spec, out=out)
    assert tensor is out and not np.isnan(out).any()
    with pytest.raises(ValueError, match=r"out must be \(3, 48, 64\) float32"):
        letterbox_numpy(uniform_frame(30, 40), spec, out=np.zeros((3, 64, 48), np.float32))


def test_bad_frames_are_refused():
    spec = PreprocessSpec(32, 32)
    with pytest.raises(ValueError, match=r"frame must be \(H, W, 3\) uint8"):
        letterbox_numpy(np.zeros((10, 10, 3), np.float32), spec)
    with pytest.raises(ValueError, match=r"frame must be \(H, W, 3\) uint8"):
        letterbox_numpy(np.zeros((10, 10), np.uint8), spec)


def test_normalisation_tables_follow_the_formula():
    spec = PreprocessSpec(8, 8, **IMAGENET)
    tables = normalisation_tables(spec)
    expected = (np.arange(256)[None] / 255 - np.array(IMAGENET["mean"])[:, None]) \
        / np.array(IMAGENET["std"])[:, None]
    np.testing.assert_allclose(tables, expected, rtol=1e-6)


@pytest.mark.parametrize("size", [(100, 37), (300, 1000), (7, 5), (480, 640), (1080, 1920)])
@pytest.mark.parametrize("order", ["rgb", "bgr"])
def test_numpy_and_torch_twins_agree(size, order):
    spec = PreprocessSpec(320, 320, channel_order=order, **IMAGENET)
    frame = np.random.default_rng(sum(size)).integers(0, 256, size + (3,), dtype=np.uint8)
    ours, box = letterbox_numpy(frame, spec)
    theirs, box_t = letterbox_torch(torch.from_numpy(frame), spec)
    assert box == box_t and theirs.dtype == torch.float32
    bound = 1.0 / (255 * np.array(IMAGENET["std"]))[:, None, None] + 1e-5
    assert np.all(np.abs(ours - theirs.numpy()) <= bound)


def test_twins_agree_tightly_without_resizing():
    spec = PreprocessSpec(64, 64, **IMAGENET)
    frame = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    ours, _ = letterbox_numpy(frame, spec)
    theirs, _ = letterbox_torch(torch.from_numpy(frame), spec)
    np.testing.assert_allclose(ours, theirs.numpy(), atol=1e-5)


def test_torch_twin_float16_and_type_check():
    spec = PreprocessSpec(16, 16, dtype="float16")
    tensor, _ = letterbox_torch(torch.zeros((8, 8, 3), dtype=torch.uint8), spec)
    assert tensor.dtype == torch.float16 and tensor.shape == (3, 16, 16)
    with pytest.raises(TypeError, match="must be a torch tensor"):
        letterbox_torch(np.zeros((8, 8, 3), np.uint8), spec)


@pytest.mark.parametrize("norm", [{}, IMAGENET])
def test_float32_multiply_add_matches_the_lookup_tables_for_every_level(norm):
    spec = PreprocessSpec(16, 256, channel_order="rgb", **norm)
    frame = np.empty((16, 256, 3), np.uint8)
    frame[:] = np.arange(256, dtype=np.uint8)[None, :, None]          # every uint8 value in every channel
    frame[..., 1] = frame[..., 1][:, ::-1]
    tensor, _ = letterbox_numpy(frame, spec)
    tables = normalisation_tables(spec)
    for c, source in enumerate((2, 1, 0)):
        np.testing.assert_allclose(tensor[c], tables[c][frame[:, :, source]], rtol=1e-6, atol=1e-6)
