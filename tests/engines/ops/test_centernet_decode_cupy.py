"""CuPy centernet_decode == NumPy centernet_decode (== torch twin on CUDA), emulated and on a GPU."""
import numpy as np
import pytest
import torch

from engines.ops.centernet_decode import centernet_decode
from engines.ops.centernet_decode_cupy import centernet_decode as centernet_decode_cupy
from engines.ops.torch_ops import centernet_decode_torch
from tests.engines.ops.cases import random_centernet_heads
from tests.engines.ops.test_centernet_decode import EXPECTED_BOXES, heads

torch.set_num_threads(1)


def assert_same(ours, expected, to_numpy):
    np.testing.assert_array_equal(to_numpy(ours[0]), expected[0])
    np.testing.assert_array_equal(to_numpy(ours[2]), expected[2])
    np.testing.assert_allclose(to_numpy(ours[1]), expected[1], rtol=1e-6, atol=1e-7)


def test_known_peaks(cupy):
    xyxy, score, class_id = centernet_decode_cupy(*(cupy.asarray(h) for h in heads()))
    assert isinstance(xyxy, cupy.ndarray) and class_id.dtype == np.int32
    np.testing.assert_array_equal(cupy.asnumpy(xyxy), EXPECTED_BOXES)
    np.testing.assert_array_equal(cupy.asnumpy(class_id), [0, 0, 1, 1, 1])


def test_random_heads_equal_numpy(cupy, cases):
    rng = np.random.default_rng(37)
    for case in range(cases // 2):
        shape = (int(v) for v in rng.integers(1, [8, 64, 64], endpoint=True))
        hm, wh, reg = random_centernet_heads(rng, *shape, integer_logits=bool(case % 2))
        options = dict(k=int(rng.integers(1, 150)), down_ratio=int(rng.choice([2, 4])),
                       score_threshold=float(rng.choice([0.05, 0.1, 0.3])))
        expected = centernet_decode(hm, wh, reg, **options)
        ours = centernet_decode_cupy(*(cupy.asarray(a) for a in (hm, wh, reg)), **options)
        assert_same(ours, expected, cupy.asnumpy)


@pytest.mark.gpu
def test_torch_cuda_twin_equals_numpy():
    rng = np.random.default_rng(41)
    for case in range(1000):
        shape = (int(v) for v in rng.integers(1, [8, 96, 96], endpoint=True))
        hm, wh, reg = random_centernet_heads(rng, *shape, integer_logits=bool(case % 2))
        expected = centernet_decode(hm, wh, reg)
        ours = centernet_decode_torch(*(torch.from_numpy(a).cuda() for a in (hm, wh, reg)))
        assert_same(ours, expected, lambda t: t.cpu().numpy())
