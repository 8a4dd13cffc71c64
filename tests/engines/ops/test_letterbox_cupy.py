"""letterbox_cupy agrees with letterbox_torch closely and with letterbox_numpy within a grey level."""
import numpy as np
import pytest
import torch

from engines.core.spec import PreprocessSpec
from engines.ops.letterbox import letterbox_numpy, letterbox_torch
from engines.ops.letterbox_cupy import letterbox_cupy

torch.set_num_threads(1)
IMAGENET = dict(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
GREY_LEVEL = 1.0 / (255 * np.array(IMAGENET["std"]))[:, None, None] + 1e-5
SIZES = [(100, 37), (300, 1000), (7, 5), (480, 640), (1080, 1920), (640, 640)]


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("order", ["rgb", "bgr"])
def test_matches_torch_and_numpy(cupy, size, order):
    spec = PreprocessSpec(320, 256, channel_order=order, **IMAGENET)
    frame = np.random.default_rng(sum(size)).integers(0, 256, size + (3,), dtype=np.uint8)
    ours, box = letterbox_cupy(cupy.asarray(frame), spec)
    assert isinstance(ours, cupy.ndarray) and ours.dtype == np.float32
    ours = cupy.asnumpy(ours)
    via_torch, box_t = letterbox_torch(torch.from_numpy(frame), spec)
    via_numpy, box_n = letterbox_numpy(frame, spec)
    assert box == box_t == box_n
    np.testing.assert_allclose(ours, via_torch.numpy(), atol=1e-4)
    assert np.all(np.abs(ours - via_numpy) <= GREY_LEVEL)


def test_float16_into_out(cupy):
    spec = PreprocessSpec(64, 64, dtype="float16", **IMAGENET)
    frame = np.random.default_rng(1).integers(0, 256, (50, 90, 3), dtype=np.uint8)
    out = cupy.zeros((3, 64, 64), cupy.float16)
    tensor, _ = letterbox_cupy(cupy.asarray(frame), spec, out=out)
    assert tensor is out
    expected, _ = letterbox_numpy(frame, spec)
    assert np.all(np.abs(cupy.asnumpy(out).astype(np.float32) - expected) <= GREY_LEVEL + 1e-2)
    with pytest.raises(ValueError, match="out must be a contiguous CuPy array"):
        letterbox_cupy(cupy.asarray(frame), spec, out=cupy.zeros((3, 64, 64), cupy.float32))


@pytest.mark.gpu
@pytest.mark.parametrize("size", SIZES)
def test_torch_cuda_twin_matches_numpy(size):
    spec = PreprocessSpec(640, 640, **IMAGENET)
    frame = np.random.default_rng(sum(size)).integers(0, 256, size + (3,), dtype=np.uint8)
    on_gpu, _ = letterbox_torch(torch.from_numpy(frame).cuda(), spec)
    expected, _ = letterbox_numpy(frame, spec)
    assert np.all(np.abs(on_gpu.cpu().numpy() - expected) <= GREY_LEVEL)
