"""cuda/yolo.cu run on the CPU (cuda_shim.h): the best-class kernels directly, and the whole
CuPy decode (kernel + NMS kernels) against the NumPy twin, on thousands of random outputs."""
import numpy as np
import pytest

from engines.ops import yolo_decode_cupy
from engines.ops.yolo_decode import yolo_decode
from tests.engines.ops.cases import random_yolo_pred

pytestmark = pytest.mark.cuda_cpu
CASES = 2000


def random_pred(rng, layout):
    n = int(rng.choice([0, 1, 255, 256, 257])) if rng.random() < 0.1 else int(rng.integers(1, 700))
    classes = int(rng.choice([1, 2, 3, 80, 100, 300])) if rng.random() < 0.3 else int(rng.integers(1, 12))
    pred = random_yolo_pred(rng, layout, n, classes)
    if rng.random() < 0.5:  # scores on a coarse grid: ties between classes and candidates
        rows = slice(4, None) if layout == "v8" else slice(None)
        if layout == "v8":
            pred[rows] = np.round(pred[rows] * 4) / 4
        else:
            pred[:, 4:] = np.round(pred[:, 4:] * 4) / 4
    return pred, n, classes


@pytest.mark.parametrize("layout", ["v8", "v5"])
def test_best_class_kernel_equals_numpy(cpu_cupy, layout):
    kernel = yolo_decode_cupy.kernel("yolo.cu", f"yolo_{layout}_best_class")
    rng = np.random.default_rng(61 if layout == "v8" else 62)
    for _ in range(CASES):
        pred, n, classes = random_pred(rng, layout)
        if n == 0:
            continue
        best = cpu_cupy.empty(n, np.float32)          # garbage until the kernel writes it
        best_class = cpu_cupy.empty(n, np.int32)
        threads = yolo_decode_cupy.THREADS
        kernel(((n + threads - 1) // threads,), (threads,),
               (cpu_cupy.asarray(pred), np.int32(n), np.int32(classes), best, best_class))
        if layout == "v8":
            scores = pred[4:]
            want, want_class = scores.max(axis=0), scores.argmax(axis=0)
        else:
            joint = pred[:, 4:5] * pred[:, 5:]
            want, want_class = pred[:, 4] * pred[:, 5:].max(axis=1), joint.argmax(axis=1)
        np.testing.assert_array_equal(np.asarray(best), want)
        np.testing.assert_array_equal(np.asarray(best_class), want_class)


@pytest.mark.parametrize("layout", ["v8", "v5"])
def test_decode_equals_numpy(cpu_cupy, layout):
    rng = np.random.default_rng(63 if layout == "v8" else 64)
    for case in range(CASES // 8):
        pred, _, _ = random_pred(rng, layout)
        options = dict(layout=layout, conf_threshold=float(rng.choice([0.05, 0.25, 0.5])),
                       iou_threshold=float(rng.choice([0.45, 0.5, 0.7])),
                       max_det=int(rng.choice([1, 10, 300])), class_agnostic=bool(case % 3 == 0))
        ours = yolo_decode_cupy.yolo_decode(cpu_cupy.asarray(pred), **options)
        expected = yolo_decode(pred, **options)
        for got, want in zip(ours, expected):
            np.testing.assert_array_equal(np.asarray(got), want)
