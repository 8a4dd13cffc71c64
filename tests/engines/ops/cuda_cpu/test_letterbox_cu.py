"""cuda/letterbox.cu run on the CPU (cuda_shim.h) through letterbox_cupy's host code: equal to
letterbox_torch to float rounding and to letterbox_numpy within a grey level, on random frame
and input sizes (not multiples of the 32 x 8 block), both channel orders."""
import numpy as np
import pytest
import torch

from engines.core.spec import PreprocessSpec
from engines.ops.letterbox import letterbox_numpy, letterbox_torch
from engines.ops.letterbox_cupy import letterbox_cupy

pytestmark = pytest.mark.cuda_cpu
torch.set_num_threads(1)
CASES = 1000
IMAGENET = dict(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
GREY_LEVEL = 1.0 / (255 * np.array(IMAGENET["std"]))[:, None, None] + 1e-5


def test_random_sizes_match_torch_and_numpy(cpu_cupy):
    rng = np.random.default_rng(81)
    for case in range(CASES):
        src_h, src_w, out_h, out_w = (int(v) for v in rng.integers(1, [120, 120, 70, 70]))
        spec = PreprocessSpec(out_h, out_w, channel_order="rgb" if case % 2 else "bgr",
                              pad_value=int(rng.integers(0, 256)), **IMAGENET)
        frame = rng.integers(0, 256, (src_h, src_w, 3), dtype=np.uint8)
        ours, box = letterbox_cupy(cpu_cupy.asarray(frame), spec)   # output from cupy.empty
        via_torch, box_t = letterbox_torch(torch.from_numpy(frame), spec)
        assert box == box_t
        np.testing.assert_allclose(np.asarray(ours), via_torch.numpy(), atol=2e-5, rtol=0)
        if case % 10 == 0:
            via_numpy, _ = letterbox_numpy(frame, spec)
            assert np.all(np.abs(np.asarray(ours) - via_numpy) <= GREY_LEVEL)


def test_float16_output(cpu_cupy):
    spec = PreprocessSpec(40, 56, dtype="float16", **IMAGENET)
    frame = np.random.default_rng(82).integers(0, 256, (50, 90, 3), dtype=np.uint8)
    out = cpu_cupy.empty((3, 40, 56), np.float16)
    tensor, _ = letterbox_cupy(cpu_cupy.asarray(frame), spec, out=out)
    expected, _ = letterbox_torch(torch.from_numpy(frame), PreprocessSpec(40, 56, **IMAGENET))
    np.testing.assert_allclose(np.asarray(tensor).astype(np.float32), expected.numpy(), atol=5e-3)
