"""CuPy yolo_decode == NumPy yolo_decode (== torch twin on CUDA), emulated here and on a GPU."""
import numpy as np
import pytest
import torch

from engines.ops.torch_ops import yolo_decode_torch
from engines.ops.yolo_decode import yolo_decode
from engines.ops.yolo_decode_cupy import yolo_decode as yolo_decode_cupy
from tests.engines.ops.cases import random_yolo_pred
from tests.engines.ops.test_yolo_decode import KEPT_XYXY, v5_pred, v8_pred

torch.set_num_threads(1)


def test_known_answers(cupy):
    xyxy, score, class_id = yolo_decode_cupy(cupy.asarray(v8_pred()), layout="v8")
    assert isinstance(xyxy, cupy.ndarray) and class_id.dtype == np.int32
    np.testing.assert_array_equal(cupy.asnumpy(xyxy), KEPT_XYXY)
    np.testing.assert_array_equal(cupy.asnumpy(class_id), [1, 0, 2])
    pred = v5_pred(np.float32([1.0, 1.0, 0.5, 1.0, 1.0]))
    _, score, class_id = yolo_decode_cupy(cupy.asarray(pred), layout="v5", class_agnostic=True)
    np.testing.assert_array_equal(cupy.asnumpy(class_id), [1, 2])
    empty = yolo_decode_cupy(cupy.zeros((84, 0), cupy.float32), layout="v8")
    assert empty[0].shape == (0, 4)


@pytest.mark.parametrize("layout", ["v8", "v5"])
def test_random_predictions_equal_numpy(cupy, cases, layout):
    rng = np.random.default_rng(29)
    for case in range(cases // 4):
        n = int(rng.integers(0, 2000 if case % 10 == 3 else 400))
        pred = random_yolo_pred(rng, layout, n, int(rng.integers(1, 10)))
        if case % 2:
            pred = np.round(pred * 4) / 4                       # exact ties everywhere
        options = dict(layout=layout, conf_threshold=float(rng.choice([0.1, 0.25, 0.6])),
                       iou_threshold=float(rng.choice([0.45, 0.5, 0.6])),
                       max_det=int(rng.integers(1, 300)), class_agnostic=bool(case % 3 == 0))
        expected = yolo_decode(pred, **options)
        ours = yolo_decode_cupy(cupy.asarray(pred), **options)
        for a, b in zip(ours, expected):
            np.testing.assert_array_equal(cupy.asnumpy(a), b)


def exact_for_torchvision_cuda(rng, pred, layout):
    """Integer box corners and distinct scores (objectness 1). torchvision's CUDA nms sorts
    unstably and nvcc may fuse its IoU sums into FMAs; with these inputs neither matters."""
    boxes = pred[:4] if layout == "v8" else pred[:, :4].T
    boxes[:2] = np.round(boxes[:2])
    boxes[2:] = 2 * np.round(boxes[2:] / 2)
    if layout == "v5":
        pred[:, :4] = boxes.T
        pred[:, 4] = 1
    scores = pred[4:] if layout == "v8" else pred[:, 5:]
    scores[...] = (rng.permutation(scores.size) / scores.size).reshape(scores.shape)
    return pred


@pytest.mark.gpu
@pytest.mark.parametrize("layout", ["v8", "v5"])
def test_torch_cuda_twin_equals_numpy(layout):
    """Up to 1000 candidates: torchvision's GPU and CPU batched_nms then both shift by class."""
    rng = np.random.default_rng(31)
    for _ in range(500):
        pred = random_yolo_pred(rng, layout, int(rng.integers(0, 1000)), int(rng.integers(1, 81)))
        pred = exact_for_torchvision_cuda(rng, pred, layout)
        expected = yolo_decode(pred, layout=layout, iou_threshold=0.5)
        ours = yolo_decode_torch(torch.from_numpy(pred).cuda(), layout=layout, iou_threshold=0.5)
        for a, b in zip(ours, expected):
            np.testing.assert_array_equal(a.cpu().numpy(), b)
