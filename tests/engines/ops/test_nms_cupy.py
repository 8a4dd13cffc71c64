"""CuPy nms / batched_nms == NumPy == torchvision, on the emulation here and on a real GPU."""
import numpy as np
import pytest
import torch
import torchvision

from engines.ops import nms as nms_numpy
from engines.ops import nms_cupy
from tests.engines.ops.cases import grid_boxes, random_case

torch.set_num_threads(1)


def test_table_cases(cupy):
    boxes = np.array([[0, 0, 5, 1], [0, 0, 3, 1], [0, 0, 5, 1], [9, 9, 9, 9], [9, 9, 9, 9]],
                     np.float32)
    scores = np.float32([0.9, 0.8, 0.9, 0.5, 0.5])
    class_ids = np.array([0, 0, 1, 2, 2])
    keep = nms_cupy.nms(cupy.asarray(boxes), cupy.asarray(scores), 0.6)
    assert isinstance(keep, cupy.ndarray) and keep.dtype == np.int64
    assert cupy.asnumpy(keep).tolist() == [0, 3, 4]     # IoU float32(0.6) > 0.6; NaN keeps
    keep = nms_cupy.batched_nms(*(cupy.asarray(a) for a in (boxes, scores, class_ids)), 0.6)
    assert cupy.asnumpy(keep).tolist() == [0, 2, 3, 4]
    empty = nms_cupy.nms(cupy.zeros((0, 4), cupy.float32), cupy.zeros(0, cupy.float32), 0.5)
    assert empty.shape == (0,) and empty.dtype == np.int64


def test_random_cases_equal_numpy_and_torchvision(cupy, cases):
    rng = np.random.default_rng(17)
    for case in range(cases):
        n = int(rng.integers(1000, 1500)) if case % 50 == 7 else int(rng.integers(0, 200))
        boxes, scores, class_ids = random_case(rng, n)
        threshold = float(rng.choice([0.3, 0.45, 0.5, 0.6, 0.7]))
        device = [cupy.asarray(a) for a in (boxes, scores, class_ids)]
        expected = nms_numpy.nms(boxes, scores, threshold)
        np.testing.assert_array_equal(cupy.asnumpy(nms_cupy.nms(*device[:2], threshold)), expected)
        np.testing.assert_array_equal(expected, torchvision.ops.nms(
            torch.from_numpy(boxes), torch.from_numpy(scores), threshold).numpy())
        expected = nms_numpy.batched_nms(boxes, scores, class_ids, threshold)
        np.testing.assert_array_equal(
            cupy.asnumpy(nms_cupy.batched_nms(*device, threshold)), expected)


@pytest.mark.gpu
def test_random_cases_equal_torchvision_cuda():
    """torchvision's own CUDA kernel. Its sort is unstable and nvcc may fuse its area sums into
    FMAs, so use distinct scores and integer boxes (all IoU arithmetic exact but the division)
    and a threshold that is exact in float32."""
    cupy = pytest.importorskip("cupy")
    rng = np.random.default_rng(23)
    for _ in range(1000):
        n = int(rng.integers(1, 400))
        boxes = grid_boxes(rng, n, grid=50, max_size=20)
        scores = (rng.permutation(n) / n).astype(np.float32)
        class_ids = rng.integers(0, 3, n)
        ours = nms_cupy.batched_nms(*(cupy.asarray(a) for a in (boxes, scores, class_ids)), 0.5)
        theirs = torchvision.ops.batched_nms(*(torch.from_numpy(a).cuda()
                                               for a in (boxes, scores, class_ids)), 0.5)
        np.testing.assert_array_equal(cupy.asnumpy(ours), theirs.cpu().numpy())


def test_too_many_boxes_is_a_clear_error(cupy):
    n = nms_cupy.MAX_BOXES + 1
    with pytest.raises(ValueError, match="at most .* boxes per call"):
        nms_cupy.nms(cupy.zeros((n, 4), cupy.float32), cupy.zeros(n, cupy.float32), 0.5)
