"""cuda/centernet.cu run on the CPU (cuda_shim.h) through centernet_decode_cupy's host code,
against the NumPy twin on thousands of random heatmaps (plateaus, edges, many classes)."""
import numpy as np
import pytest

from engines.ops import centernet_decode_cupy
from engines.ops.centernet_decode import centernet_decode
from tests.engines.ops.cases import random_centernet_heads

pytestmark = pytest.mark.cuda_cpu
CASES = 2000


def test_peaks_kernel_marks_every_pixel(cpu_cupy):
    """is_peak starts as garbage (cupy.empty): every pixel, peak or not, must be written."""
    kernel = centernet_decode_cupy.kernel("centernet.cu", "centernet_peaks")
    rng = np.random.default_rng(71)
    for _ in range(CASES):
        classes, height, width = (int(v) for v in rng.integers(1, [6, 30, 30]))
        hm, _, _ = random_centernet_heads(rng, classes, height, width, integer_logits=rng.random() < 0.7)
        cut = np.float32(rng.choice([-9.0, -2.0, 0.0]))
        is_peak = cpu_cupy.empty(hm.size, np.uint8)
        threads = centernet_decode_cupy.THREADS
        kernel(((hm.size + threads - 1) // threads,), (threads,),
               (cpu_cupy.asarray(hm), np.int32(classes), np.int32(height), np.int32(width), cut,
                is_peak))
        padded = np.pad(hm, ((0, 0), (1, 1), (1, 1)), constant_values=-np.inf)
        window_max = np.lib.stride_tricks.sliding_window_view(padded, (3, 3), axis=(1, 2)).max(axis=(3, 4))
        np.testing.assert_array_equal(np.asarray(is_peak), ((hm >= window_max) & (hm > cut)).reshape(-1))


def test_decode_equals_numpy(cpu_cupy):
    rng = np.random.default_rng(72)
    for case in range(CASES // 4):
        classes = int(rng.choice([1, 3, 80])) if case % 5 == 0 else int(rng.integers(1, 8))
        height, width = (int(v) for v in rng.integers(1, 33, 2))
        heads = random_centernet_heads(rng, classes, height, width, integer_logits=case % 2 == 0)
        options = dict(k=int(rng.choice([1, 5, 100])), score_threshold=float(rng.choice([0.05, 0.1, 0.3])))
        ours = centernet_decode_cupy.centernet_decode(*(cpu_cupy.asarray(h) for h in heads), **options)
        expected = centernet_decode(*heads, **options)
        np.testing.assert_array_equal(np.asarray(ours[0]), expected[0])
        np.testing.assert_array_equal(np.asarray(ours[2]), expected[2])
        np.testing.assert_allclose(np.asarray(ours[1]), expected[1], rtol=1e-6, atol=1e-7)
